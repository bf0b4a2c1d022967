//! LDAP bind authentication against a real OpenLDAP `slapd` (Debian's package), started by
//! the test on a free loopback port with its own configuration and database in a temp
//! directory, and stopped at the end. Without `/usr/sbin/slapd` the tests fail when `CI` is
//! set and print `SKIPPED` otherwise (`scripts/test` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_core::auth::*;
use vigil_core::*;

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const BASE: &str = "dc=vigil,dc=test";
const ROOT_DN: &str = "cn=admin,dc=vigil,dc=test";
const ROOT_PW: &str = "root-secret-ldap";

/// A slapd of our own; killed on drop.
struct Slapd {
    child: Child,
    url: String,
    /// `ldaps://127.0.0.1:port` when started with TLS.
    ldaps_url: Option<String>,
    /// The CA that signed the server's certificate (PEM file), when started with TLS.
    ca_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn available() -> bool {
    if Path::new(SLAPD).exists() && Path::new(SLAPADD).exists() {
        return true;
    }
    let msg = "slapd is not installed (apt-get install slapd ldap-utils; scripts/test does it)";
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI is set, so the LDAP tests must run");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

const LDIF: &str = "\
dn: dc=vigil,dc=test
objectClass: dcObject
objectClass: organization
o: vigil
dc: vigil

dn: ou=people,dc=vigil,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=vigil,dc=test
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=vigil,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@vigil.test
userPassword: alice-ldap-pw

dn: uid=bob,ou=people,dc=vigil,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
userPassword: bob-ldap-pw

dn: uid=carol,ou=people,dc=vigil,dc=test
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C
userPassword: carol-ldap-pw

dn: uid=twin,ou=people,dc=vigil,dc=test
objectClass: inetOrgPerson
uid: twin
cn: Twin One
sn: T
userPassword: twin-pw

dn: cn=twin,ou=groups,dc=vigil,dc=test
objectClass: inetOrgPerson
uid: twin
cn: twin
sn: T
userPassword: twin-pw

dn: cn=soc-l1,ou=groups,dc=vigil,dc=test
objectClass: groupOfNames
cn: soc-l1
member: uid=alice,ou=people,dc=vigil,dc=test
member: uid=carol,ou=people,dc=vigil,dc=test

dn: cn=siem-admins,ou=groups,dc=vigil,dc=test
objectClass: groupOfNames
cn: siem-admins
member: uid=alice,ou=people,dc=vigil,dc=test
";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a server certificate it signs for 127.0.0.1 and localhost, written to `d`:
/// `ca.pem`, `server.pem`, `server.key`.
fn generate_certs(d: &Path, ca_name: &str) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    std::fs::write(d.join("ca.pem"), ca.pem()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "slapd test server");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    std::fs::write(d.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(d.join("server.key"), key.serialize_pem()).unwrap();
}

fn start() -> Slapd {
    start_with(false)
}

/// A slapd; with `tls`, a certificate generated here and a second listener for `ldaps://`
/// (StartTLS on the plain one).
fn start_with(tls: bool) -> Slapd {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("db")).unwrap();
    let tls_conf = if tls {
        generate_certs(d, "vigil test LDAP CA");
        format!(
            "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
            d.join("server.pem").display(),
            d.join("server.key").display()
        )
    } else {
        String::new()
    };
    let conf: PathBuf = d.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             {tls_conf}\
             pidfile {pid}\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{BASE}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\n\
             directory {db}\n\
             overlay memberof\n",
            pid = d.join("slapd.pid").display(),
            db = d.join("db").display(),
        ),
    )
    .unwrap();
    std::fs::write(d.join("data.ldif"), LDIF).unwrap();
    let out = Command::new(SLAPADD)
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(d.join("data.ldif"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slapadd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A port taken between probing and binding makes slapd exit: try a few.
    for _ in 0..5 {
        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let tls_port = free_port();
        let ldaps_url = tls.then(|| format!("ldaps://127.0.0.1:{tls_port}"));
        let listen = match &ldaps_url {
            Some(l) => format!("{url}/ {l}/"),
            None => format!("{url}/"),
        };
        let mut child = Command::new(SLAPD)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(listen)
            .arg("-d")
            .arg("0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut up = false;
        for _ in 0..400 {
            if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && (!tls || std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok())
            {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if up {
            return Slapd {
                child,
                url,
                ldaps_url,
                ca_file: tls.then(|| d.join("ca.pem")),
                _dir: dir,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("slapd did not start");
}

fn ldap_config(url: &str, group_search: bool) -> ValidLdapConfig {
    ldap_config_with(url, group_search, "")
}

/// [`ldap_config`] with more keys (`extra`: YAML lines indented by two spaces).
fn ldap_config_with(url: &str, group_search: bool, extra: &str) -> ValidLdapConfig {
    let yaml = format!(
        r#"
ldap:
  url: {url}
{extra}
  bind_dn: "{ROOT_DN}"
  bind_password: "${{env:LDAP_BIND}}"
  user_base: "ou=people,{BASE}"
  user_filter: "(&(objectClass=inetOrgPerson)(uid={{username}}))"
  {groups}
  timeout: 5s
  roles:
    - {{ group: "cn=soc-l1,ou=groups,{BASE}", tenant: main, role: tier1_analyst }}
    - {{ group: siem-admins, tenant: shared, role: tier2_analyst }}
    - {{ group: runtime-group, tenant: main, role: tier2_analyst }}
"#,
        groups = if group_search {
            format!("group_base: \"ou=groups,{BASE}\"")
        } else {
            String::new()
        }
    );
    // The twin lives in ou=groups: search all of the base to see the ambiguity.
    let yaml = yaml.replace(
        &format!("user_base: \"ou=people,{BASE}\""),
        &format!("user_base: \"{BASE}\""),
    );
    let cfg: AuthConfig = yaml_serde::from_str(&yaml).unwrap();
    let (_, ldap) = cfg
        .validate("auth", |n| (n == "LDAP_BIND").then(|| ROOT_PW.to_owned()))
        .unwrap_or_else(|e| panic!("{e:?}"));
    ldap.unwrap()
}

fn grants(id: &LdapIdentity) -> HashSet<(String, Role)> {
    id.grants
        .iter()
        .map(|g| (g.tenant.as_str().to_owned(), g.role))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_bind_groups_and_mapping() {
    if !available() {
        return;
    }
    let slapd = start();
    let dir = LdapDirectory::new(ldap_config(&slapd.url, true));
    let alice = dir
        .authenticate("alice", &Secret::from("alice-ldap-pw"))
        .await
        .unwrap()
        .expect("alice binds");
    assert_eq!(alice.dn, format!("uid=alice,ou=people,{BASE}"));
    assert_eq!(alice.display_name, "Alice Liddell");
    assert_eq!(alice.email.as_deref(), Some("alice@vigil.test"));
    assert_eq!(
        grants(&alice),
        HashSet::from([
            ("main".to_owned(), Role::Tier1Analyst),
            ("shared".to_owned(), Role::Tier2Analyst)
        ])
    );
    // Wrong password, empty password (an unauthenticated bind), unknown user, filter
    // injection, an ambiguous name: no identity.
    for (user, pw) in [
        ("alice", "wrong"),
        ("alice", ""),
        ("nobody", "x"),
        ("*", "alice-ldap-pw"),
        ("alice)(uid=*", "alice-ldap-pw"),
        ("twin", "twin-pw"),
    ] {
        let r = dir.authenticate(user, &Secret::from(pw)).await.unwrap();
        assert!(r.is_none(), "{user:?}");
    }
    // Bob is in no mapped group.
    let bob = dir
        .authenticate("bob", &Secret::from("bob-ldap-pw"))
        .await
        .unwrap()
        .unwrap();
    assert!(bob.grants.is_empty());

    // memberOf mode: the overlay fills memberOf for groups added at run time.
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&slapd.url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(ROOT_DN, ROOT_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap.add(
        &format!("cn=runtime-group,ou=groups,{BASE}"),
        vec![
            ("objectClass", HashSet::from(["groupOfNames"])),
            ("cn", HashSet::from(["runtime-group"])),
            (
                "member",
                HashSet::from(["uid=carol,ou=people,dc=vigil,dc=test"]),
            ),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let _ = ldap.unbind().await;
    let by_member_of = LdapDirectory::new(ldap_config(&slapd.url, false));
    let carol = by_member_of
        .authenticate("carol", &Secret::from("carol-ldap-pw"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        grants(&carol),
        HashSet::from([("main".to_owned(), Role::Tier2Analyst)])
    );

    // A directory that does not answer is an error, not a failed login.
    let down = LdapDirectory::new(ldap_config(
        &format!("ldap://127.0.0.1:{}", free_port()),
        true,
    ));
    assert!(
        down.authenticate("alice", &Secret::from("x"))
            .await
            .is_err()
    );
    drop(slapd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_users_are_materialized_and_follow_their_groups() {
    if !available() {
        return;
    }
    let slapd = start();
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqlMetaStore::open_sqlite(&tmp.path().join("meta.db"), StoreOptions::default())
            .await
            .unwrap(),
    );
    let a = Authenticator::with_passwords(
        store.clone(),
        AuthPolicy::default(),
        Some(ldap_config(&slapd.url, true)),
        Passwords::with_params(256, 1, 1).unwrap(),
    );
    assert!(store.find_user_for_login("alice").await.unwrap().is_none());
    let s = a
        .login(
            "alice",
            &Secret::from("alice-ldap-pw"),
            None,
            Some("10.0.0.5"),
        )
        .await
        .unwrap();
    assert_eq!(
        s.principal.role_in(&TenantId::main()),
        Some(Role::Tier1Analyst)
    );
    let u = store.find_user_for_login("alice").await.unwrap().unwrap();
    assert!(
        u.password_hash.is_none(),
        "no local password for LDAP users"
    );
    assert_eq!(u.display_name, "Alice Liddell");
    // Wrong LDAP password: counted like a local one.
    assert!(matches!(
        a.login("alice", &Secret::from("nope"), None, None).await,
        Err(AuthError::InvalidCredentials)
    ));
    let u = store.find_user_for_login("alice").await.unwrap().unwrap();
    assert_eq!(u.failed_logins, 1);
    // Bob maps to no role: no access, and no local record.
    assert!(matches!(
        a.login("bob", &Secret::from("bob-ldap-pw"), None, None)
            .await,
        Err(AuthError::NoAccess)
    ));
    assert!(store.find_user_for_login("bob").await.unwrap().is_none());

    // Group membership changes in the directory reach the roles at the next login.
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&slapd.url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(ROOT_DN, ROOT_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap.modify(
        &format!("cn=siem-admins,ou=groups,{BASE}"),
        vec![
            ldap3::Mod::Delete(
                "member",
                HashSet::from(["uid=alice,ou=people,dc=vigil,dc=test"]),
            ),
            ldap3::Mod::Add(
                "member",
                HashSet::from(["uid=bob,ou=people,dc=vigil,dc=test"]),
            ),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let _ = ldap.unbind().await;
    let s = a
        .login("alice", &Secret::from("alice-ldap-pw"), None, None)
        .await
        .unwrap();
    assert_eq!(s.principal.role_in(&TenantId::shared()), None);
    let u = store.find_user_for_login("alice").await.unwrap().unwrap();
    assert_eq!(u.failed_logins, 0);
    assert_eq!(u.roles.len(), 1);
    let audit = store
        .list_audit(
            &TenantScope::single(TenantId::main()),
            &AuditQuery::default(),
            &Page::first(100),
        )
        .await
        .unwrap();
    for r in &audit.items {
        let j = serde_json::to_string(r).unwrap();
        for secret in ["alice-ldap-pw", "bob-ldap-pw", ROOT_PW, "nope"] {
            assert!(!j.contains(secret), "{j}");
        }
    }
    assert!(audit.items.iter().any(|r| r.action == "user.create"));
    assert!(audit.items.iter().any(|r| r.action == "user.roles"));
    store.close().await;
    drop(slapd);
}

/// LDAP over TLS: `ldaps://` and StartTLS against slapd with a certificate generated here,
/// trusted through `ca_file`; a certificate from another CA (or none configured) fails with
/// an error that says it is the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_over_tls_ldaps_and_starttls_with_a_ca_file() {
    if !available() {
        return;
    }
    let slapd = start_with(true);
    let ca = slapd.ca_file.clone().unwrap();
    let ldaps = slapd.ldaps_url.clone().unwrap();
    let with_ca = format!("  ca_file: \"{}\"", ca.display());
    for (url, extra) in [
        (ldaps.clone(), with_ca.clone()),
        (slapd.url.clone(), format!("{with_ca}\n  starttls: true")),
    ] {
        let dir = LdapDirectory::new(ldap_config_with(&url, true, &extra));
        let alice = dir
            .authenticate("alice", &Secret::from("alice-ldap-pw"))
            .await
            .unwrap_or_else(|e| panic!("{url} {extra}: {e}"))
            .expect("alice binds over TLS");
        assert_eq!(alice.dn, format!("uid=alice,ou=people,{BASE}"));
        assert!(
            dir.authenticate("alice", &Secret::from("wrong"))
                .await
                .unwrap()
                .is_none()
        );
    }

    // a CA that did not sign the server's certificate: refused, and the error says so
    let other = tempfile::tempdir().unwrap();
    generate_certs(other.path(), "some other CA");
    let other_ca = format!("  ca_file: \"{}\"", other.path().join("ca.pem").display());
    for (url, extra) in [
        (ldaps.clone(), other_ca.clone()),
        (slapd.url.clone(), format!("{other_ca}\n  starttls: true")),
    ] {
        let dir = LdapDirectory::new(ldap_config_with(&url, true, &extra));
        let e = dir
            .authenticate("alice", &Secret::from("alice-ldap-pw"))
            .await
            .expect_err("a certificate of another CA must be refused");
        let msg = e.to_string();
        assert!(
            msg.contains("certificate was refused") && msg.contains("ca_file"),
            "{url}: {msg}"
        );
    }
    drop(slapd);
}
