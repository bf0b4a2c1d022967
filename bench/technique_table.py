#!/usr/bin/env python3
"""Technique coverage of `vigil hunt` over EVTX-ATTACK-SAMPLES.

usage: technique_table.py TIMELINE.jsonl SAMPLES_DIR SIGMA_DIR [--events EVENTS.jsonl]
                          [--out SUMMARY.json] > table.md

The expected technique of a sample comes from its file name (keyword table below, first match
wins; names with an explicit T-number use it). A rule is *tagged* for a sample when one of its
ATT&CK tags is that technique, a sub-technique or its parent.

Without --events (the old, strict measure): a sample is *covered* when some SigmaHQ rule is
tagged with its technique, *detected* when a tagged rule fired on it in the timeline.

With --events (the export of the same files by `examples/export_events.rs`: the flattened
events `vigil hunt` reads), coverage comes from a reference interpreter independent of Vigil:
every tagged Windows rule is converted by pySigma (2.0.1, sqlite backend 2.1.1, the versions of
crates/vigil-detect/reference/compare_pysigma.py) into SQL and run over an SQLite table of the
events; logsources are routed as SigmaHQ's own ci-data/thor.yml says (category -> EventID
conditions + the rewritten service's channel, its field mappings applied by a pySigma
FieldMappingTransformation; unmapped logsources are not evaluated, as in thor). A sample is
*covered* when a tagged rule matches one of its events under that reference, *found* when
`vigil hunt` reports a tagged rule on it. Every covered-but-not-found sample, and every
(rule, event) pair of a tagged rule where the two sides disagree, is listed.
"""
import argparse, json, os, re, sqlite3, sys
from collections import defaultdict

# (regex on the lowercased file name, technique, short name), first match wins
KEYWORDS = [
    (r"t1098|dsrm", "T1098", "Account Manipulation"),
    (r"t1178|sidhistory", "T1134.005", "SID-History Injection"),
    (r"t1186|doppelganging", "T1055.013", "Process Doppelganging"),
    (r"dcsync", "T1003.006", "DCSync"),
    (r"dcshadow", "T1207", "Rogue Domain Controller"),
    (r"zerologon|cve-2020-1472", "T1210", "Exploitation of Remote Services (ZeroLogon)"),
    (r"lsass|mimikatz|hashdump|memdump|dumpert|sekurlsa|malseclogon|ppldump|kekeo|memssp", "T1003", "OS Credential Dumping"),
    (r"keepass|keefarce|keethief|teamviewer-dumper|chrome_firefox", "T1555", "Credentials from Password Stores"),
    (r"pwd_spray|failed_logon", "T1110", "Brute Force"),
    (r"phish_windows_credentials", "T1056.002", "GUI Input Capture"),
    (r"keylogger", "T1056.001", "Keylogging"),
    (r"password_hash_changed|admin_password_changed|pwd_reset", "T1098", "Account Manipulation"),
    (r"forcepwd|spnadd|acl_|dacl", "T1222", "Permissions Modification"),
    (r"log_cleared|eventlog_service_crashed", "T1070.001|T1685.005", "Clear Windows Event Logs"),
    (r"timestomp", "T1070.006", "Timestomp"),
    (r"mru_deletekey|antiforensics", "T1070|T1685", "Indicator Removal"),
    (r"uac|sdclt|eventvwr|tokenduplication", "T1548.002", "Bypass UAC"),
    (r"clm_disabled|scriptblocklogging_disabled|execpolicy", "T1562.001|T1685", "Disable or Modify Tools"),
    (r"byov|dse_bypass|zam64", "T1068|T1543.003|T1685", "Exploitation for Privilege Escalation (vulnerable driver)"),
    (r"potato|seimpersonate|imperson|efspotato|namedpipe_privesc|spoolfool|netsvc", "T1134", "Access Token Manipulation"),
    (r"cve-2020-0796|cve-2020-1313|cve-2020-1377|eop_|privesc_registry_symlink", "T1068", "Exploitation for Privilege Escalation"),
    (r"herpaderping|hollowing|codeinj|migrate|reflectivepe|injection|psinject|rtlcreateprocessreflection", "T1055", "Process Injection"),
    (r"sideloading|dllhijack|dll_hijack|dll hijack|knowdll", "T1574.002|T1574.001", "DLL Side-Loading"),
    (r"renamed_psexec|masquerading", "T1036", "Masquerading"),
    (r"attrib", "T1564.001", "Hidden Files and Directories"),
    (r"portforward|rdp_tun|rdp_tunnel|tunna", "T1572", "Protocol Tunneling"),
    (r"bits", "T1197", "BITS Jobs"),
    (r"vba_security_accessvbom", "T1137", "Office Application Startup"),
    (r"xp_cmdshell|xpcmdshell", "T1505.001", "SQL Stored Procedures"),
    (r"fake_computeraccount|4720", "T1136", "Create Account"),
    (r"guest_added_to_admins|4732", "T1098", "Account Manipulation"),
    (r"rdp_settings_tampering", "T1112", "Modify Registry"),
    (r"ntopenprocess|process_suspend", "T1055", "Process Injection"),
    (r"bloodhound|userhunter|psloggedon|net_group|4661|4799|4798|groups_enumeration|local_user_or_group", "T1087", "Account Discovery"),
    (r"enum_shares|remote_system_namedpipes", "T1135", "Network Share Discovery"),
    (r"process_listing", "T1057", "Process Discovery"),
    (r"uefi|rweverything", "T1082", "System Information Discovery"),
    (r"iis_pwd_and_config|appcmd", "T1552", "Unsecured Credentials"),
    (r"webshell", "T1505.003", "Web Shell"),
    (r"psexec|remote_service|svcctl|7045", "T1569.002", "Service Execution"),
    (r"scheduledtask|schtask|atsvc|remote_task|remote task|4702|4698", "T1053.005", "Scheduled Task"),
    (r"wmi|wmic|commandlineeventconsumer|wmighost", "T1047", "Windows Management Instrumentation"),
    (r"winrm|remotepowershell|remote_management", "T1021.006", "Windows Remote Management"),
    (r"dcom|mmc20|shellbrowserwind|docmexec|lethalhta", "T1021.003", "Distributed Component Object Model"),
    (r"sharprdp|tsclient|rdp|rdpcorets|bluekeep", "T1021.001", "Remote Desktop Protocol"),
    (r"5145|filecopy|smbmap|remshell_over_namedpipe|namedpipe_tp_nullsession|nullsession", "T1021.002", "SMB/Windows Admin Shares"),
    (r"remote_registry|regsvc|directoryserviceextpt", "T1112", "Modify Registry"),
    (r"pass the hash|passthehash", "T1550.002", "Pass the Hash"),
    (r"runas|4648", "T1078", "Valid Accounts"),
    (r"spoolsample|smb_bi_auth", "T1187", "Forced Authentication"),
    (r"net_share", "T1135", "Network Share Discovery"),
    (r"startup|usershellstartup|winlogon_shell|run_key|runpersist|hidden_run_keyvalue", "T1547.001", "Registry Run Keys / Startup Folder"),
    (r"silentprocessexit|imagehijack", "T1546.012", "Image File Execution Options Injection"),
    (r"accessibility_features|osk", "T1546.008", "Accessibility Features"),
    (r"shime|shim|appfix", "T1546.011", "Application Shimming"),
    (r"winsock", "T1547", "Boot or Logon Autostart Execution"),
    (r"comhijack|outlook_backdoor", "T1546.015", "Component Object Model Hijacking"),
    (r"pendinggpo", "T1484.001", "Group Policy Modification"),
    (r"bootexecute|setupexecute", "T1547.001", "Boot or Logon Autostart Execution"),
    (r"mshta", "T1218.005", "Mshta"),
    (r"msxsl|wmic_xsl|xsl", "T1220", "XSL Script Processing"),
    (r"regsvr32|scrobj|_sct", "T1218.010", "Regsvr32"),
    (r"rundll32|zipfldr|shdocvw|filprotocolhandler|fileprotocolhandler|ostap", "T1218.011", "Rundll32"),
    (r"cpl|controlpanel", "T1218.002", "Control Panel"),
    (r"pcalua|lolbin|lolbas|desktopimgdownldr|vshadow|ftp", "T1218", "System Binary Proxy Execution"),
    (r"msi", "T1218.007", "Msiexec"),
    (r"emotet|maldoc|_ps_800|powershell|babyshark|invoke-mimikatz", "T1059.001", "PowerShell"),
    (r"revshell|powercat|bindshell|faxhell|svchost", "T1059.003", "Windows Command Shell"),
    (r"jscript|vbs|sharpshooter", "T1059.005", "Visual Basic / JScript"),
    (r"driveby|cve-2018-15982", "T1189", "Drive-by Compromise"),
    (r"vss|shadowcopy", "T1006", "Direct Volume Access"),
    (r"atomicredteam|panachesysmon", "various", "Atomic Red Team run"),
    (r"smbv3|smb", "T1210", "Exploitation of Remote Services"),
]


def expected(name):
    n = name.lower()
    m = re.search(r"t(1\d{3}(?:\.\d{3})?)", n)
    for pat, tid, label in KEYWORDS:
        if re.search(pat, n):
            return tid, label
    if m:
        return "T" + m.group(1), ""
    return None, ""


def related(tag_tid, want):
    a = tag_tid.lower()
    for b in want.lower().split("|"):
        if a == b or a.startswith(b + ".") or b.startswith(a + "."):
            return True
    return False



RULE_DIRS = ["rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance", "rules-placeholder"]
VENV = "/tmp/vigil-pysigma-venv"
PACKAGES = ["pySigma==2.0.1", "pySigma-backend-sqlite==2.1.1"]


def ensure_venv():
    import subprocess
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    if subprocess.call([py, "-c", "import sigma.backends.sqlite"], stderr=subprocess.DEVNULL) != 0:
        subprocess.check_call([py, "-m", "pip", "install", "-q", *PACKAGES])
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(py, [py, *sys.argv])


def expected(name):
    n = name.lower()
    m = re.search(r"t(1\d{3}(?:\.\d{3})?)", n)
    for pat, tid, label in KEYWORDS:
        if re.search(pat, n):
            return tid, label
    if m:
        return "T" + m.group(1), ""
    return None, ""


def related(tag_tid, want):
    a = tag_tid.lower()
    for b in want.lower().split("|"):
        if a == b or a.startswith(b + ".") or b.startswith(a + "."):
            return True
    return False


def tagged(tids, want):
    return want is not None and (want == "various" or any(related(t, want) for t in tids))


def rule_files(sigma):
    out = []
    for d in RULE_DIRS:
        for root, _, files in os.walk(os.path.join(sigma, d)):
            out += [os.path.join(root, f) for f in files if f.endswith(".yml")]
    return sorted(out)


def techniques_of(text):
    return {t.upper() for t in re.findall(r"attack\.(t\d{4}(?:\.\d{3})?)", text)}


# ---- reference: pySigma + thor.yml routing ----

def thor_logsources(sigma):
    import yaml
    with open(os.path.join(sigma, "ci-data", "thor.yml"), encoding="utf-8") as f:
        return list((yaml.safe_load(f).get("logsources") or {}).values())


def service_conditions(thor, service):
    chans = []
    for e in thor:
        if e.get("service") == service and "category" not in e:
            chans += [s.split(":", 1)[1] for s in e.get("sources") or [] if s.startswith("WinEventLog:")]
    return {"Channel": chans} if chans else {}


def variants(thor, ls):
    """(conditions, fieldmappings) per way thor.yml maps the logsource; [] when unmapped."""
    cat, prod, svc = ls.get("category"), ls.get("product"), ls.get("service")
    out = []
    for e in thor:
        if "category" in e:
            if cat is None or e["category"] != cat or (e.get("product") and prod and e["product"] != prod):
                continue
            conds = {k: (v if isinstance(v, list) else [v]) for k, v in (e.get("conditions") or {}).items()}
            rw = (e.get("rewrite") or {}).get("service")
            if rw:
                conds.update(service_conditions(thor, rw))
            out.append((conds, e.get("fieldmappings") or {}))
    if not out and svc and cat is None:
        conds = service_conditions(thor, svc)
        if conds:
            out.append((conds, {}))
    return out


def sql_text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v):
        # Multi-valued fields (unnamed EVTX `Data` items): one value per line, not JSON text,
        # whose escaping doubles every backslash (a rule looking for `\\` would match any path).
        return "\n".join("" if x is None else sql_text(x) for x in v)
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def all_strings(v, out):
    if isinstance(v, str):
        out.append(v)
    elif isinstance(v, list):
        for x in v:
            all_strings(x, out)
    elif isinstance(v, dict):
        for x in v.values():
            all_strings(x, out)


def regexp(pattern, value):
    if value is None:
        return False
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def reference(events_path, rules, thor):
    """{rule_id: set((file, record))}, {rule_path: reason not evaluated}, rule_id -> path."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    db = sqlite3.connect(":memory:")
    db.create_function("REGEXP", 2, regexp, deterministic=True)
    rows = [json.loads(line) for line in open(events_path, encoding="utf-8")]
    cols = {}
    for r in rows:
        for k in r["event"]:
            cols.setdefault(k.lower(), k)
    q = lambda c: '"' + c.replace('"', '""') + '"'
    colset = set(cols) | {"_fulltext"}
    db.execute("CREATE TABLE logs (" + ", ".join(
        [f"{q(c)} TEXT COLLATE NOCASE" for c in cols.values()] + ['"_fulltext" TEXT COLLATE NOCASE']) + ")")
    where_of = []
    for i, r in enumerate(rows):
        e = r["event"]
        strs = []
        all_strings(e, strs)
        keys = list(e.keys())
        db.execute("INSERT INTO logs (rowid, " + ", ".join(q(k) for k in keys) + ', "_fulltext") VALUES ('
                   + ", ".join("?" * (len(keys) + 2)) + ")",
                   [i + 1] + [sql_text(e[k]) for k in keys] + ["\n".join(strs)])
        where_of.append((r["file"], r["record"]))
    for c in ("EventID", "Channel"):
        if c.lower() in cols:
            db.execute(f"CREATE INDEX idx_{c} ON logs ({q(cols[c.lower()])})")
    pairs = defaultdict(set)
    skipped = {}
    path_of = {}
    for p in rules:
        text = open(p, encoding="utf-8").read()
        try:
            coll = SigmaCollection.from_yaml(text)
            rule = coll.rules[0]
        except Exception as ex:  # noqa: BLE001
            skipped[p] = f"{type(ex).__name__}: {ex}"
            continue
        rid = str(rule.id) if rule.id else rule.title
        path_of[rid] = p
        ls = {k: getattr(rule.logsource, k) for k in ("category", "product", "service")}
        vs = variants(thor, ls)
        if not vs:
            skipped[p] = f"logsource not mapped by thor.yml: {ls}"
            continue
        for conds, fmap in vs:
            pipe = ProcessingPipeline(items=[ProcessingItem(FieldMappingTransformation(fmap))]) if fmap else None
            try:
                backend = sqliteBackend(processing_pipeline=pipe, fulltext_field="_fulltext") if pipe \
                    else sqliteBackend(fulltext_field="_fulltext")
                queries = backend.convert(SigmaCollection.from_yaml(text))
            except Exception as ex:  # noqa: BLE001
                skipped[p] = f"{type(ex).__name__}: {ex}"
                break
            extra = " AND ".join(
                "(" + " OR ".join(f"{q(cols.get(k.lower(), k))} = '{str(v)}'" for v in vals) + ")"
                for k, vals in conds.items())
            for sql in queries:
                where = sql.split(" WHERE ", 1)[1]
                full = f"({where})" + (f" AND {extra}" if extra else "")
                for _attempt in range(30):
                    try:
                        for (rowid,) in db.execute(f"SELECT rowid FROM logs WHERE {full}"):
                            pairs[rid].add(where_of[rowid - 1])
                        break
                    except sqlite3.OperationalError as ex:
                        missing = re.match(r"no such column: (.+)", str(ex))
                        if not missing:
                            skipped[p] = f"sqlite: {ex}"
                            break
                        db.execute(f"ALTER TABLE logs ADD COLUMN {q(missing.group(1))} TEXT COLLATE NOCASE")
    return pairs, skipped, path_of


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("timeline")
    ap.add_argument("samples")
    ap.add_argument("sigma")
    ap.add_argument("--events", help="export_events output: reference coverage with pySigma")
    ap.add_argument("--out", help="write a JSON summary here")
    ap.add_argument("--cache", help="reference matches: read from this file if it exists, else computed and written")
    args = ap.parse_args()
    if args.events:
        ensure_venv()
    samples = os.path.abspath(args.samples)
    files = []
    for root, _, fs in os.walk(samples):
        files += [os.path.relpath(os.path.join(root, f), samples) for f in fs if f.endswith(".evtx")]
    files.sort()
    want = {f: expected(os.path.basename(f)) for f in files}

    # Vigil: rule hits per file (and per record), from the timeline.
    fired = defaultdict(lambda: defaultdict(int))
    vigil_pairs = defaultdict(set)
    tags_of, title_of = {}, {}
    for line in open(args.timeline, encoding="utf-8"):
        d = json.loads(line)
        rel = os.path.relpath(os.path.abspath(d["log"]["file"]["path"]), samples)
        r = d["rule"]
        fired[rel][r["id"]] += 1
        vigil_pairs[r["id"]].add((rel, (d.get("event") or {}).get("sequence")))
        title_of[r["id"]] = r["title"]
        tags_of[r["id"]] = [t[7:].upper() for t in r.get("tags") or [] if re.match(r"attack\.t\d", t)]

    rules = rule_files(args.sigma)
    tech = {}
    for p in rules:
        text = open(p, encoding="utf-8").read()
        tech[p] = (techniques_of(text), text)
    any_tag = set().union(*(t for t, _ in tech.values()))

    ref = None
    if args.events:
        wanted = {w for w, _ in want.values() if w}
        cand = [p for p, (t, text) in tech.items()
                if re.search(r"product:\s*windows|category:\s*antivirus", text) and any(tagged(t, w) for w in wanted)]
        if args.cache and os.path.exists(args.cache):
            c = json.load(open(args.cache))
            ref_pairs = {r: {tuple(x) for x in xs} for r, xs in c["pairs"].items()}
            skipped, path_of = c["skipped"], c["path_of"]
        else:
            ref_pairs, skipped, path_of = reference(args.events, cand, thor_logsources(args.sigma))
            if args.cache:
                json.dump({"pairs": {r: sorted(xs, key=str) for r, xs in ref_pairs.items()},
                           "skipped": skipped, "path_of": path_of}, open(args.cache, "w"))
        for rid, p in path_of.items():
            title_of.setdefault(rid, re.search(r"^title:\s*(.+)$", tech[p][1], re.M).group(1).strip())
            tags_of.setdefault(rid, sorted(tech[p][0]))
        ref = (ref_pairs, skipped, path_of, cand)

    out, summary_rows = [], []
    n_cov = n_found = n_hit = n_tag_only = n_untagged = 0
    for f in files:
        tid, label = want[f]
        here = fired.get(f, {})
        n_hit += bool(here)
        v_tagged = [r for r in here if tagged(tags_of.get(r, []), tid)]
        if ref is None:
            cov = tagged(any_tag, tid)
            r_tagged = []
        else:
            r_tagged = sorted(r for r, ps in ref[0].items() if tagged(tags_of.get(r, []), tid)
                              and any(pf == f for pf, _ in ps))
            cov = bool(r_tagged)
        found = bool(v_tagged)
        n_tag_only += (not cov) and tagged(any_tag, tid)
        n_untagged += tid is not None and not tagged(any_tag, tid)
        n_cov += cov
        n_found += cov and found
        if ref is None:
            mark = "yes" if found else ("no" if cov else "n/a (no SigmaHQ rule tagged)")
        else:
            mark = ("covered, found" if found else "**covered, not found**") if cov else \
                ("not covered, found" if found else "not covered")
        shown = v_tagged or sorted(here, key=lambda r: -here[r])
        names = "; ".join(f"{title_of.get(r, r)} ({here[r]})" for r in shown[:3])
        if len(shown) > 3:
            names += f"; +{len(shown) - 3} more"
        row = f"| {f} | {tid or '?'} {label} | {mark} | {names or '—'} |"
        if ref is not None:
            ref_names = "; ".join(title_of.get(r, r) for r in r_tagged[:3]) + (f"; +{len(r_tagged) - 3} more" if len(r_tagged) > 3 else "")
            row = row + f" {ref_names or '—'} |"
        out.append(row)
        summary_rows.append({"sample": f, "technique": tid, "covered": cov, "found": found,
                             "vigil_tagged": sorted(v_tagged), "reference_tagged": r_tagged})

    if ref is None:
        print(f"**{n_found} of {n_cov} samples whose technique a SigmaHQ rule is tagged with are detected by a rule with that technique tag**; "
              f"{n_hit} of {len(files)} samples raise at least one detection.\n")
        print("| sample | expected technique (from the file name) | detected | rules that fired (count; technique-tagged first) |")
        print("|---|---|---|---|")
    else:
        ref_pairs, skipped, path_of, cand = ref
        # Pair-level agreement over the tagged rules the reference evaluated.
        only_ref, only_vigil, agree = [], [], 0
        for rid in path_of:
            if path_of[rid] in skipped:
                continue
            a, b = ref_pairs.get(rid, set()), vigil_pairs.get(rid, set())
            agree += len(a & b)
            only_ref += [(rid, x) for x in sorted(a - b, key=str)]
            only_vigil += [(rid, x) for x in sorted(b - a, key=str)]
        print(f"**{n_found} of {n_cov} covered samples are found by `vigil hunt`** (covered: a SigmaHQ rule tagged with the sample's "
              f"technique matches one of its events under pySigma + thor.yml); {n_tag_only} samples have SigmaHQ rules tagged with their "
              f"technique but none matches their events; {n_untagged} have no rule tagged with it; {len(files) - n_cov - n_tag_only - n_untagged} have no "
              f"technique in their name. {n_hit} of {len(files)} samples raise at least one detection. "
              f"Tagged rules evaluated by the reference: {len(cand) - len(skipped)} of {len(cand)}; (rule, event) matches of those rules: "
              f"{agree} on both sides, {len(only_ref)} only in the reference, {len(only_vigil)} only in Vigil.\n")
        for side, xs in (("only in the reference", only_ref), ("only in Vigil", only_vigil)):
            for rid, (pf, rec) in xs[:50]:
                print(f"- {side}: {title_of.get(rid, rid)} (`{rid}`) on {pf}, event #{rec}")
        print()
        print("| sample | expected technique (from the file name) | result | Vigil: rules that fired (count; technique-tagged first) | reference: tagged rules that match |")
        print("|---|---|---|---|---|")
        if args.out:
            json.dump({"covered": n_cov, "found": n_found, "samples": summary_rows,
                       "skipped": {os.path.relpath(p, args.sigma): why for p, why in skipped.items()},
                       "only_reference": [[r, list(x)] for r, x in only_ref],
                       "only_vigil": [[r, list(x)] for r, x in only_vigil]},
                      open(args.out, "w"), indent=1)
    print("\n".join(out))


main()
