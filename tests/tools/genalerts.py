#!/usr/bin/env python3
# The project's alert generator (shared/genalerts.py), kept here so the tests
# and benchmarks need nothing outside the repository.
"""Generate realistic SIEM/EDR alerts (ECS, OCSF, Wazuh, Falco shapes) as JSON lines.
usage: genalerts.py N [seed]"""
import json, random, sys, uuid, datetime
n = int(sys.argv[1]); rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
hosts = [f"ws-{i:04d}.corp.example" for i in range(500)] + ["dc01.corp.example", "db-prod-1.corp.example"]
users = [f"user{i}" for i in range(300)] + ["administrator", "svc-backup"]
t0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
def ts(i): return (t0 + datetime.timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
def ip(): return f"{rnd.choice([45, 103, 185, 193])}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1,255)}"
def ecs(i):
    h = rnd.choice(hosts)
    return {"@timestamp": ts(i), "event": {"kind": "alert", "id": str(uuid.UUID(int=rnd.getrandbits(128))), "category": ["malware"], "severity": rnd.choice([21, 47, 73, 99]), "module": "endpoint", "dataset": "endpoint.alerts"},
            "host": {"name": h, "hostname": h.split(".")[0], "id": f"{rnd.getrandbits(64):016x}", "os": {"family": "windows"}, "ip": [f"10.1.{rnd.randrange(256)}.{rnd.randrange(1,255)}"]},
            "user": {"name": rnd.choice(users), "domain": "CORP"},
            "process": {"name": "powershell.exe", "pid": rnd.randrange(100, 60000), "executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "command_line": "powershell -enc SQBFAFgA" + "A" * rnd.randrange(10, 200), "hash": {"sha256": f"{rnd.getrandbits(256):064x}"}},
            "rule": {"name": rnd.choice(["Malicious Behavior Detected", "Credential Dumping via LSASS Access", "Ransomware Behavior"]), "id": str(rnd.randrange(1000, 9999)), "ruleset": "production"},
            "threat": {"tactic": {"name": "Execution"}, "technique": {"id": "T1059.001"}}, "agent": {"type": "endpoint", "version": "8.15.0"}}
def ocsf(i):
    return {"class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "activity_id": 1, "severity_id": rnd.choice([1, 2, 3, 4, 5]), "time": int((t0.timestamp() + i) * 1000),
            "finding_info": {"uid": str(uuid.UUID(int=rnd.getrandbits(128))), "title": rnd.choice(["Impossible travel", "Anomalous token use", "Brute force"]), "types": ["Identity"]},
            "actor": {"user": {"name": rnd.choice(users) + "@corp.example", "uid": f"{rnd.getrandbits(64):x}"}, "session": {"uid": f"{rnd.getrandbits(64):x}"}},
            "src_endpoint": {"ip": ip(), "location": {"country": rnd.choice(["RU", "BR", "US", "NG"])}}, "metadata": {"product": {"name": "Okta", "vendor_name": "Okta"}, "version": "1.3.0"}}
def wazuh(i):
    return {"timestamp": ts(i).replace("Z", "+0000"), "rule": {"level": rnd.choice([5, 10, 12, 15]), "description": "sshd: brute force trying to get access to the system.", "id": "5712", "firedtimes": rnd.randrange(1, 50), "groups": ["syslog", "sshd", "authentication_failures"], "mitre": {"id": ["T1110"]}},
            "agent": {"id": f"{rnd.randrange(1, 999):03d}", "name": rnd.choice(hosts).split(".")[0], "ip": f"10.2.{rnd.randrange(256)}.{rnd.randrange(1,255)}"}, "manager": {"name": "wazuh-manager"}, "id": f"{1700000000 + i}.{rnd.randrange(10**6)}",
            "full_log": f"sshd[{rnd.randrange(1000,9999)}]: Failed password for invalid user admin from {ip()} port {rnd.randrange(1024,65535)} ssh2", "data": {"srcip": ip(), "srcuser": "admin"}, "location": "/var/log/auth.log"}
def falco(i):
    return {"uuid": str(uuid.UUID(int=rnd.getrandbits(128))), "output": "Shell spawned in a container (user=root container_id=abc123 shell=bash)", "priority": rnd.choice(["Warning", "Error", "Critical"]), "rule": "Terminal shell in container", "time": ts(i).replace("Z", ".000000000Z"), "source": "syscall", "hostname": rnd.choice(hosts),
            "tags": ["container", "shell", "mitre_execution"], "output_fields": {"container.id": f"{rnd.getrandbits(48):012x}", "k8s.ns.name": rnd.choice(["default", "payments", "kube-system"]), "k8s.pod.name": f"api-{rnd.getrandbits(32):08x}", "proc.cmdline": "bash", "user.name": "root"}}
gens = [ecs, ocsf, wazuh, falco]
out = sys.stdout
for i in range(n):
    out.write(json.dumps(gens[i % 4](i), separators=(",", ":")) + "\n")
