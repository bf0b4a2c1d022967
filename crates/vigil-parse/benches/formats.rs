//! Field-parser throughput on realistic lines, in events per second on one core.
//!
//! `cargo bench -p vigil-parse --bench formats`. Groups: `cef`, `leef`, `kv`, `json`, `csv`,
//! `regex`, `winxml`, and `pipeline`: the syslog header plus regex or KV extraction of the
//! message plus a mapping step (look up the fields a normalizer would map), which is the
//! issue's 150,000 events/s per core target.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_parse::syslog::{SyslogOptions, parse_lenient};
use vigil_parse::{Fields, cef, csv, json, kv, leef, regex, winxml};

const CEF: &[&str] = &[
    "<134>May  1 00:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1.0|TRAFFIC|end|3|rt=May 01 2024 00:00:00 GMT deviceExternalId=0123456789 src=10.0.0.5 dst=8.8.8.8 sourceTranslatedAddress=203.0.113.5 destinationTranslatedAddress=8.8.8.8 cs1Label=Rule cs1=allow-dns suser= duser= app=dns cs3Label=Virtual System cs3=vsys1 cs4Label=Source Zone cs4=trust cs5Label=Destination Zone cs5=untrust deviceInboundInterface=ethernet1/2 deviceOutboundInterface=ethernet1/1 cn1Label=SessionID cn1=123456 cnt=1 spt=53211 dpt=53 sourceTranslatedPort=41234 destinationTranslatedPort=53 proto=udp act=allow",
    "CEF:0|Trend Micro|Deep Security Agent|10.0|4000000|Eicar_test_file|6|cn1=1 cn1Label=Host ID dvchost=hostname cn2=205 cn2Label=Quarantine File Size filePath=C:\\Users\\trend\\Desktop\\eicar.exe act=Delete msg=Realtime TrendMicroDsMalwareTarget=N/A TrendMicroDsMalwareTargetType=N/A",
    "CEF:0|Vendor|Proxy|1|200|Request|3|request=https://example.com/login?user=bob&next=/home msg=User bob logged in (session\\=42) from 10.1.1.1 duser=bob requestMethod=POST requestClientApplication=Mozilla/5.0 (X11; Linux x86_64) src=10.1.1.1 spt=51234 dst=93.184.216.34 dpt=443",
];

const LEEF: &[&str] = &[
    "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21^proto=TCP^usrName=bob^devTime=May 01 2024 00:00:00",
    "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tspt=1200\tdpt=25\tmsg=delivered\tsender=a@example.com",
];

const KV: &[&str] = &[
    "date=2024-05-01 time=00:00:00 devname=\"FG-100E\" devid=\"FG100E0000000000\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" level=\"notice\" vd=\"root\" srcip=10.0.0.5 srcport=51234 srcintf=\"port1\" dstip=93.184.216.34 dstport=443 dstintf=\"wan1\" proto=6 action=\"accept\" policyid=1 service=\"HTTPS\" duration=12 sentbyte=1200 rcvdbyte=5400",
    "IN=eth0 OUT= MAC=0d:65:d6:70:e5:8e:03:51:d8:ae:8e:4f:6e:ac SRC=45.15.47.56 DST=198.51.100.7 LEN=60 TOS=0x00 PREC=0x00 TTL=54 ID=23526 PROTO=TCP SPT=56565 DPT=8080 WINDOW=1024 RES=0x00 SYN URGP=0",
];

const JSON: &[&str] = &[
    r#"{"@timestamp":"2024-05-01T00:00:00.000Z","event":{"kind":"event","category":["authentication"],"outcome":"failure","code":4625},"host":{"name":"dc01","os":{"family":"windows"}},"source":{"ip":"203.0.113.9","port":51234},"user":{"name":"administrator","domain":"CORP"},"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_data":{"LogonType":"3","Status":"0xc000006d","WorkstationName":"KALI"}},"tags":["wec","dc"]}"#,
    r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/bob","accountId":"123456789012","userName":"bob"},"eventTime":"2024-05-01T00:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"Mozilla/5.0","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No","LoginTo":"https://console.aws.amazon.com/"},"eventID":"3f1b2c4d","readOnly":false}"#,
];

const CSV: &[&str] = &[
    "2024-05-01T00:00:00Z,fw01,deny,tcp,203.0.113.9,51234,10.0.0.5,22,\"SSH brute force, blocked\",64",
];

const SSHD: &str = "<86>May  1 00:00:00 web-04 sshd[7017]: Failed password for invalid user alice from 45.140.125.58 port 49289 ssh2";
const NGINX: &str = "<190>May  1 00:00:00 web-05 nginx: 10.3.63.250 - - [01/May/2024:00:00:00 +0000] \"GET /static/style.css HTTP/1.1\" 200 41198 \"https://www.google.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\" rt=1.771";
const UFW: &str = "<4>May  1 00:00:00 fw-edge-01 kernel: [1000000.008071] [UFW BLOCK] IN=eth0 OUT= MAC=0d:65:d6:70:e5:8e:03:51:d8:ae:8e:4f:6e:ac SRC=45.15.47.56 DST=198.51.100.7 LEN=60 TOS=0x00 PREC=0x00 TTL=54 ID=23526 PROTO=TCP SPT=56565 DPT=8080 WINDOW=1024 RES=0x00 SYN URGP=0";

const SSHD_RE: &str = r"^Failed (?P<method>\S+) for (?:invalid user )?(?P<user>\S+) from (?P<src_ip>[0-9a-fA-F:.]+) port (?P<src_port>\d+)";
const NGINX_RE: &str = r#"^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)""#;

const WINXML: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-a5ba-3e3b0328c30d}"/><EventID>4625</EventID><Version>0</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8010000000000000</Keywords><TimeCreated SystemTime="2024-05-01T10:00:00.123456700Z"/><EventRecordID>183744</EventRecordID><Correlation/><Execution ProcessID="636" ThreadID="4216"/><Channel>Security</Channel><Computer>dc01.corp.example</Computer><Security/></System><EventData><Data Name="SubjectUserSid">S-1-0-0</Data><Data Name="SubjectUserName">-</Data><Data Name="TargetUserName">administrator</Data><Data Name="TargetDomainName">CORP</Data><Data Name="Status">0xc000006d</Data><Data Name="FailureReason">%%2313</Data><Data Name="LogonType">3</Data><Data Name="LogonProcessName">NtLmSsp </Data><Data Name="WorkstationName">KALI</Data><Data Name="IpAddress">203.0.113.9</Data><Data Name="IpPort">51234</Data></EventData></Event>"#;

/// What a normalizer does with the fields: look up the ones it maps (a handful of names).
fn map(f: &Fields<'_>, names: &[&str]) -> usize {
    names
        .iter()
        .filter_map(|n| f.get(n))
        .map(|v| v.as_str().map_or(1, str::len))
        .sum()
}

fn group(c: &mut Criterion, name: &str, lines: &[&str], mut f: impl FnMut(&[u8]) -> usize) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("lines", |b| {
        b.iter(|| {
            let mut n = 0;
            for l in lines {
                n += f(black_box(l.as_bytes()));
            }
            black_box(n)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let cef_opts = cef::CefOptions::default();
    group(c, "cef", CEF, |l| cef::parse_lenient(l, &cef_opts).0.len());
    let leef_opts = leef::LeefOptions::default();
    group(c, "leef", LEEF, |l| {
        leef::parse_lenient(l, &leef_opts).0.len()
    });
    let kv_opts = kv::KvOptions::default();
    group(c, "kv", KV, |l| kv::parse_lenient(l, &kv_opts).0.len());
    let json_opts = json::JsonOptions::default();
    group(c, "json", JSON, |l| {
        json::parse(l, &json_opts).map_or(0, |f| f.len())
    });
    let csv_parser = csv::CsvParser::new(csv::CsvOptions::default());
    group(c, "csv", CSV, |l| csv_parser.parse_lenient(l).0.len());
    let sshd = regex::RegexParser::new(SSHD_RE).unwrap();
    let nginx = regex::RegexParser::new(NGINX_RE).unwrap();
    let msgs = [
        "Failed password for invalid user alice from 45.140.125.58 port 49289 ssh2",
        "10.3.63.250 - - [01/May/2024:00:00:00 +0000] \"GET /static/style.css HTTP/1.1\" 200 41198 \"https://www.google.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\" rt=1.771",
    ];
    group(c, "regex", &msgs, |l| {
        let p = if l.starts_with(b"Failed") {
            &sshd
        } else {
            &nginx
        };
        p.parse(l).map_or(0, |f| f.len())
    });
    let wx = winxml::WinXmlOptions::default();
    group(c, "winxml", &[WINXML], |l| {
        winxml::parse(l, &wx).map_or(0, |f| f.len())
    });

    // The issue's target: syslog header + regex/KV extraction + mapping, per event.
    let sys = SyslogOptions {
        default_timezone: chrono_tz::UTC,
        now: Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap(),
    };
    let mapped = [
        "user", "src_ip", "src_port", "client", "status", "path", "SRC", "DST", "DPT", "PROTO",
    ];
    group(c, "pipeline", &[SSHD, NGINX, UFW], |l| {
        let (m, _) = parse_lenient(l, &sys);
        let fields = match m.app_name {
            Some("sshd") => sshd.parse(m.msg).ok(),
            Some("nginx") => nginx.parse(m.msg).ok(),
            _ => Some(kv::parse_lenient(m.msg, &kv_opts).0),
        };
        fields.map_or(0, |f| map(&f, &mapped)) + m.hostname.map_or(0, str::len)
    });
}

criterion_group!(formats, benches);
criterion_main!(formats);
