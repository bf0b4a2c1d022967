#!/usr/bin/env python3
"""Technique coverage of `vigil hunt` over EVTX-ATTACK-SAMPLES.

usage: technique_table.py TIMELINE.jsonl SAMPLES_DIR SIGMA_RULES_DIR > table.md

The expected technique of a sample comes from its file name (keyword table below, first match
wins; names with an explicit T-number use it). A sample counts as *covered* when at least one
SigmaHQ rule is tagged with that technique (or a sub-/parent technique), and as *detected* when
a rule with such a tag fired on the file.
"""
import json, os, re, sys
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


def rule_tags(rules_dir):
    tags = set()
    for root, _, files in os.walk(rules_dir):
        for f in files:
            if f.endswith(".yml"):
                with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
                    for t in re.findall(r"attack\.(t\d{4}(?:\.\d{3})?)", fh.read()):
                        tags.add(t.upper())
    return tags


def main():
    timeline, samples, rules = sys.argv[1:4]
    fired = defaultdict(lambda: defaultdict(int))
    tags_of = {}
    for line in open(timeline, encoding="utf-8"):
        d = json.loads(line)
        p = os.path.abspath(d["log"]["file"]["path"])
        r = d["rule"]
        fired[p][r["title"]] += 1
        tags_of[r["title"]] = [t[7:].upper() for t in r.get("tags") or [] if re.match(r"attack\.t\d", t)]
    sigma_techniques = rule_tags(rules)
    rows = []
    for root, _, files in os.walk(samples):
        for f in files:
            if f.endswith(".evtx"):
                rows.append(os.path.join(root, f))
    rows = sorted(os.path.abspath(r) for r in rows)
    samples = os.path.abspath(samples)
    covered = detected = any_hit = 0
    out = []
    for p in rows:
        rel = os.path.relpath(p, samples)
        tid, label = expected(os.path.basename(p))
        rules_here = fired.get(p, {})
        if rules_here:
            any_hit += 1
        cov = tid is not None and (tid == "various" or any(related(t, tid) for t in sigma_techniques))
        hits = [t for t in rules_here if tid and (tid == "various" or any(related(x, tid) for x in tags_of[t]))]
        if cov:
            covered += 1
            if hits:
                detected += 1
        mark = "yes" if hits else ("no" if cov else "n/a (no SigmaHQ rule tagged)")
        shown = hits or sorted(rules_here, key=lambda t: -rules_here[t])
        names = "; ".join(f"{t} ({rules_here[t]})" for t in shown[:3])
        if len(shown) > 3:
            names += f"; +{len(shown) - 3} more"
        out.append(f"| {rel} | {tid or '?'} {label} | {mark} | {names or '—'} |")
    print(f"**{detected} of {covered} samples whose technique a SigmaHQ rule is tagged with are detected by a rule with that technique tag**; "
          f"{any_hit} of {len(rows)} samples raise at least one detection.\n")
    print("| sample | expected technique (from the file name) | detected | rules that fired (count; technique-tagged first) |")
    print("|---|---|---|---|")
    print("\n".join(out))


main()
