#!/usr/bin/env python3
"""The corpus of bench/scan.sh, and its scoring.

generate DIR MEGABYTES  writes source-like files with planted secrets of every kind and
                        decoys of each, and prints a manifest (JSON) of where they are.
score MANIFEST (NAME REPORT SECONDS)...  reads each tool's JSON report and prints recall,
                        decoys reported, other findings and wall time. A planted secret
                        counts as found when a finding is in its file within one line of it
                        (a PEM key is reported on its BEGIN line by some tools, on its body
                        by others). Nothing secret is printed.
"""

import json
import os
import random
import sys
import zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = "0123456789abcdef"
DIGITS = "0123456789"
UPPER32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
URL64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

rng = random.Random(20261202)


def pick(alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def crc62(data):
    value = zlib.crc32(data.encode())
    out = ""
    for _ in range(6):
        out = B62[value % 62] + out
        value //= 62
    return out


def bad(checksum):
    return checksum[:-1] + ("1" if checksum[-1] == "0" else "0")


def warden(kind):
    head = f"warden_{kind}_" + pick(B62, 43)
    return head + crc62(head)


def github(prefix):
    body = pick(B62, 30)
    return f"{prefix}_{body}{crc62(body)}"


def pem_lines():
    body = pick(B64, 1600)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----"]


# kind -> (planted line(s) builder, decoy line builders)
def planted(kind):
    if kind == "private_key":
        return pem_lines()
    if kind in ("aws_access_key_id", "aws_secret_access_key"):
        # A key id and its secret go together (Kingfisher reports the pair as one finding).
        return [f"aws_access_key_id = AKIA{pick(UPPER32, 16)}",
                f"aws_secret_access_key = {pick(B64, 40)}"]
    return [{
        "warden_admin": lambda: f"WARDEN_TOKEN={warden('admin')}",
        "warden_client_secret": lambda: f"client_secret: {warden('cs')}",
        "github_pat": lambda: f'export GITHUB_TOKEN="{github("ghp")}"',
        "github_oauth": lambda: f"oauth = '{github('gho')}'",
        "github_app": lambda: f"GH_APP_TOKEN={github('ghs')}",
        "github_fine_grained_pat": lambda: f"GH_PAT=github_pat_11{pick(UPPER32, 20)}_{pick(B62, 59)}",
        "gitlab_pat": lambda: f"private_token: glpat-{pick(URL64, 20)}",
        "slack_token": lambda: f'SLACK_BOT_TOKEN="xoxb-{pick(DIGITS, 12)}-{pick(DIGITS, 13)}-{pick(B62, 24)}"',
        "slack_webhook": lambda: f"webhook: https://hooks.slack.com/services/T{pick(UPPER32, 10)}/B{pick(UPPER32, 10)}/{pick(B62, 24)}",
        "stripe_live_key": lambda: f"stripe.api_key = 'sk_live_{pick(B62, 99)}'",
        "openai_api_key": lambda: f'OPENAI_API_KEY="sk-proj-{pick(URL64, 74)}T3BlbkFJ{pick(URL64, 74)}"',
        "anthropic_api_key": lambda: f"ANTHROPIC_API_KEY=sk-ant-api03-{pick(URL64, 93)}AA",
        "google_api_key": lambda: f'apiKey: "AIza{pick(URL64, 35)}",',
        "npm_token": lambda: f"//registry.npmjs.org/:_authToken={github('npm')}",
        "sendgrid_api_key": lambda: f"SENDGRID_API_KEY=SG.{pick(URL64, 22)}.{pick(URL64, 43)}",
        "aws_access_key_id": lambda: f"aws_access_key_id = AKIA{pick(UPPER32, 16)}",
        "aws_secret_access_key": lambda: f"aws_secret_access_key = {pick(B64, 40)}",
        "database_password": lambda: f"DATABASE_URL=postgres://app:{pick(B62, 20)}@db.internal:5432/app",
        "generic_secret": lambda: f'api_key = "{pick(B62, 28)}{pick(DIGITS, 4)}"',
    }[kind]()]


def decoys(kind):
    wrong_ghp = lambda prefix: (lambda body: f"{prefix}_{body}{bad(crc62(body))}")(pick(B62, 30))
    options = {
        "warden_admin": [lambda: (lambda h: f"WARDEN_TOKEN={h}{bad(crc62(h))}")("warden_admin_" + pick(B62, 43)),
                         lambda: "WARDEN_TOKEN=warden_admin_<token>"],
        "warden_client_secret": [lambda: (lambda h: f"client_secret: {h}{bad(crc62(h))}")("warden_cs_" + pick(B62, 43)),
                                 lambda: 'client_secret: "${WARDEN_CLIENT_SECRET}"'],
        "github_pat": [lambda: f'export GITHUB_TOKEN="{wrong_ghp("ghp")}"',
                       lambda: 'export GITHUB_TOKEN="ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"'],
        "github_oauth": [lambda: f"oauth = '{wrong_ghp('gho')}'"],
        "github_app": [lambda: f"GH_APP_TOKEN={wrong_ghp('ghs')}"],
        "github_fine_grained_pat": [lambda: "GH_PAT=github_pat_xxxxxxxxxxxxxxxxxxxxxx_" + "x" * 59],
        "gitlab_pat": [lambda: "private_token: glpat-xxxxxxxxxxxxxxxxxxxx",
                       lambda: "private_token: glpat-12345678901234567890"],
        "slack_token": [lambda: 'SLACK_BOT_TOKEN="xoxb-1234567890-1234567890-abcdefghijklmnopqrstuvwx"',
                        lambda: 'SLACK_BOT_TOKEN="xoxb-xxxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx"'],
        "slack_webhook": [lambda: "webhook: https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX"],
        "stripe_live_key": [lambda: "stripe.api_key = 'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx'",
                            lambda: "stripe.api_key = 'sk_live_1234567890abcdefghijklmn'"],
        "openai_api_key": [lambda: 'OPENAI_API_KEY="sk-proj-' + "x" * 74 + "T3BlbkFJ" + "x" * 74 + '"',
                           lambda: 'OPENAI_API_KEY="sk-your-openai-api-key-here"'],
        "anthropic_api_key": [lambda: "ANTHROPIC_API_KEY=sk-ant-api03-" + "x" * 93 + "AA",
                              lambda: "ANTHROPIC_API_KEY=sk-ant-api03-your-key-here"],
        "google_api_key": [lambda: 'apiKey: "AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",',
                           lambda: 'apiKey: "<your-api-key>",'],
        "npm_token": [lambda: f"//registry.npmjs.org/:_authToken={wrong_ghp('npm')}",
                      lambda: "//registry.npmjs.org/:_authToken=${NPM_TOKEN}"],
        "sendgrid_api_key": [lambda: "SENDGRID_API_KEY=SG." + "x" * 22 + "." + "x" * 43],
        "aws_access_key_id": [lambda: "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
                              lambda: "aws_access_key_id = AKIAXXXXXXXXXXXXXXXX"],
        "aws_secret_access_key": [lambda: "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                  lambda: "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}"],
        "private_key": [lambda: "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----",
                        lambda: "-----BEGIN OPENSSH PRIVATE KEY-----\n<your private key here>\n-----END OPENSSH PRIVATE KEY-----"],
        "database_password": [lambda: "DATABASE_URL=postgres://postgres:postgres@localhost:5432/app",
                              lambda: "DATABASE_URL=postgres://user:password@localhost:5432/app",
                              lambda: "DATABASE_URL=postgres://app:${DB_PASSWORD}@db.internal:5432/app"],
        "generic_secret": [lambda: 'api_key = "xxxxxxxxxxxxxxxxxxxxxxxx"',
                           lambda: 'api_key = "${API_KEY}"',
                           lambda: 'password = "<your-password>"',
                           lambda: 'token = "abcdefghijklmnopqrstuvwxyz"'],
    }[kind]
    return rng.choice(options)().split("\n")


KINDS = [
    "warden_admin", "warden_client_secret", "github_pat", "github_oauth", "github_app",
    "github_fine_grained_pat", "gitlab_pat", "slack_token", "slack_webhook", "stripe_live_key",
    "openai_api_key", "anthropic_api_key", "google_api_key", "npm_token", "sendgrid_api_key",
    "aws_access_key_id", "aws_secret_access_key", "private_key", "database_password",
    "generic_secret",
]

WORDS = ("let value config request response client server return match user name path file "
         "buffer index count result error async await self struct impl for while if else true "
         "false token_count keyboard monkey secretary password_policy authority session cache "
         "handler router timeout retry").split()


def noise_line():
    roll = rng.random()
    if roll < 0.05:
        return f'    let url = "https://example.org/{rng.choice(WORDS)}/{pick(B62, 10)}";'
    if roll < 0.08:
        return f'    api_key = config.get("{rng.choice(WORDS)}")?;'
    if roll < 0.10:
        return f"    // the {rng.choice(WORDS)} token is refreshed here"
    if roll < 0.12:
        return f"    let digest = \"{pick(HEX, 64)}\";"
    return "    " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) + ";"


def generate(directory, megabytes):
    os.makedirs(directory, exist_ok=True)
    per_kind = 25
    items = [("planted", kind) for kind in KINDS for _ in range(per_kind)]
    items += [("decoy", kind) for kind in KINDS for _ in range(per_kind)]
    rng.shuffle(items)
    files = max(1, megabytes * 4)  # about 256 KiB each
    target = megabytes * 1024 * 1024 // files
    per_file = [items[i::files] for i in range(files)]
    manifest = {"planted": [], "decoys": []}
    for index in range(files):
        subdir = os.path.join(directory, f"pkg{index % 16:02d}")
        os.makedirs(subdir, exist_ok=True)
        path = os.path.join(subdir, f"module{index:04d}.rs")
        lines = []
        size = 0
        queue = list(per_file[index])
        slots = max(1, len(queue))
        spacing = max(8, target // 60 // (slots + 1))
        while size < target or queue:
            if queue and len(lines) % spacing == spacing - 1:
                role, kind = queue.pop()
                block = planted(kind) if role == "planted" else decoys(kind)
                # The secret of an AWS pair is on the pair's second line.
                offset = 2 if (role, kind) == ("planted", "aws_secret_access_key") else 1
                entry = {"path": os.path.realpath(path), "line": len(lines) + offset, "kind": kind}
                (manifest["planted"] if role == "planted" else manifest["decoys"]).append(entry)
                lines.extend(block)
                lines.extend(noise_line() for _ in range(3))
                size += sum(len(line) + 1 for line in block)
                continue
            line = noise_line()
            lines.append(line)
            size += len(line) + 1
        with open(path, "w") as out:
            out.write("\n".join(lines) + "\n")
    json.dump(manifest, sys.stdout)


def load_findings(name, report):
    """(path, line) of every finding of a tool's JSON report."""
    with open(report) as handle:
        text = handle.read()
    if not text.strip():
        return []
    document, _ = json.JSONDecoder().raw_decode(text)
    found = []
    for finding in document.get("findings", []):
        if name == "kingfisher":
            finding = finding.get("finding", finding)
        path, line = finding.get("path"), finding.get("line")
        if path is not None and line is not None:
            found.append((os.path.realpath(path), int(line)))
    return found


def score(manifest_path, runs):
    with open(manifest_path) as handle:
        manifest = json.load(handle)
    print(f"{'tool':<12} {'recall':>14} {'decoys reported':>16} {'other findings':>15} {'wall time':>10}")
    per_kind = {}
    for name, report, seconds in runs:
        findings = load_findings(name, report)
        by_path = {}
        for path, line in findings:
            by_path.setdefault(path, []).append(line)
        near = lambda item: any(abs(line - item["line"]) <= 1 for line in by_path.get(item["path"], []))
        hits = [item for item in manifest["planted"] if near(item)]
        decoys_hit = [item for item in manifest["decoys"] if near(item)]
        marked = manifest["planted"] + manifest["decoys"]
        other = sum(
            1 for path, line in findings
            if not any(item["path"] == path and abs(line - item["line"]) <= 1 for item in marked)
        )
        total = len(manifest["planted"])
        print(f"{name:<12} {len(hits):>6}/{total:<4} {100 * len(hits) / total:5.1f}% "
              f"{len(decoys_hit):>9}/{len(manifest['decoys']):<6} {other:>15} {float(seconds):>9.2f}s")
        for kind in KINDS:
            planted_kind = [item for item in manifest["planted"] if item["kind"] == kind]
            found_kind = [item for item in hits if item["kind"] == kind]
            missed_decoys = [item for item in decoys_hit if item["kind"] == kind]
            per_kind.setdefault(kind, {})[name] = (len(found_kind), len(planted_kind), len(missed_decoys))
    names = [name for name, _, _ in runs]
    print()
    print(f"{'kind':<26}" + "".join(f" {name + ' found/decoys':>26}" for name in names))
    for kind in KINDS:
        cells = "".join(
            f" {per_kind[kind][name][0]:>14}/{per_kind[kind][name][1]:<3} {per_kind[kind][name][2]:>7}"
            for name in names
        )
        print(f"{kind:<26}{cells}")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) >= 6 and sys.argv[1] == "score" and (len(sys.argv) - 3) % 3 == 0:
        rest = sys.argv[3:]
        score(sys.argv[2], [tuple(rest[i:i + 3]) for i in range(0, len(rest), 3)])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
