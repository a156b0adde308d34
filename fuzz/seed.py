#!/usr/bin/env python3
"""Seeds the fuzz corpora (fuzz/corpus/<target>/) and dictionaries (fuzz/dict/) from the
repository's fixtures and mappings. Run from anywhere; existing corpus files are kept (a seed
is named by its content's hash, so running it again adds nothing twice).

    python3 fuzz/seed.py
"""
import hashlib
import json
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
corpus = root / "fuzz" / "corpus"


def add(target, data):
    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    (folder / name).write_bytes(data)


def files(folder, pattern):
    return sorted(p for p in (root / folder).rglob(pattern) if p.is_file())


# XML: every document the gateway reads or writes as XML.
xml_files = files("mappings", "*.xml") + files("fixtures/cosmic-link", "*.xml") + files("fixtures/municipal", "*.xml") + files("fixtures/riv", "*.xml")
for path in xml_files:
    add("xml", path.read_bytes())
for path in files("mappings/cosmic-link/examples", "*.xml") + files("fixtures/cosmic-link", "*.xml") + files("fixtures/fhir/to-cosmic-link", "*.xml"):
    add("cosmic_link", path.read_bytes())

# RIV-TA GetCarePlans: the request fixture in its SOAP envelope, with and without the optional
# elements.
riv_body = (root / "fixtures/riv/GetCarePlans.xml").read_text().split("?>", 1)[1].strip()
riv_envelope = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:urn="urn:riv:itintegration:registry:1">\n'
    "<soapenv:Header><urn:LogicalAddress>SE2321000214-1000</urn:LogicalAddress></soapenv:Header>\n"
    "<soapenv:Body>{}</soapenv:Body>\n</soapenv:Envelope>\n"
)
add("riv", riv_envelope.format(riv_body).encode())
add("riv", riv_envelope.format(re.sub(r"<urn1:(careUnitHSAId|datePeriod)>.*?</urn1:\1>", "", riv_body, flags=re.S)).encode())
add("riv", riv_envelope.format(riv_body.replace("1.2.752.129.2.1.3.1", "1.2.752.129.2.1.3.3").replace("195504152389", "195504752386")).encode())

# Municipal: each dialect's examples, the first byte its place among the dialects (sorted by
# name, as the mappings list them).
dialects = sorted(p.name for p in (root / "mappings/municipal").iterdir() if (p / "dialect.toml").is_file())
for index, name in enumerate(dialects):
    for path in files(f"mappings/municipal/{name}/examples", "*.xml") + files(f"fixtures/municipal/{name}", "*.xml"):
        add("municipal", bytes([index]) + path.read_bytes())

# FHIR: client documents, error fixtures, the gateway's own renderings, the official examples.
for path in files("fixtures/fhir", "*.json") + files("fixtures/cosmic-link/to-fhir", "*.json"):
    add("fhir", path.read_bytes())
for path in files("fixtures/fhir-r4-official", "*.json"):
    data = path.read_bytes()
    if b'"Consent"' in data:
        add("fhir_consent", data)
    if re.search(rb'"resourceType":\s*"(Bundle|Task|CarePlan)"', data[:200]):
        add("fhir", data)
add("fhir_consent", json.dumps({
    "resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "urn:brygga:fhir:CodeSystem:consent-scope", "code": "sip"}]}],
    "patient": {"identifier": {"system": "http://electronichealth.se/identifier/personnummer", "value": "198112189876"}},
    "dateTime": "2026-11-21", "provision": {"type": "permit"},
}, indent=1).encode())

# Canonical: the golden canonical messages.
for path in files("fixtures", "*.json"):
    if "canonical" not in str(path.parent):
        continue
    value = json.loads(path.read_text())
    message = value.get("message", value) if isinstance(value, dict) else value
    add("canonical", json.dumps(message, indent=1, ensure_ascii=False).encode())

# Auth: the lines of brygga::fuzzing::auth.
url = "https://brygga.example/auth/token"
for lines in [
    ["token", "HS256", "brygga", url, "region-jh-cosmic", "https://brygga.example", "300", "0", "system/Task.rs", "SE2321000214-1000", "", ""],
    ["token", "HS256", "", url, "region-jh-cosmic", "https://other.example", "300", "0", "system/*.rs", "SE2321000214-1000", "", ""],
    ["token", "HS256", "brygga", url, "nobody", "https://brygga.example", "-10", "-400", "", "", "cnf", "x"],
    ["assertion", "ES384", "", "region-jh-cosmic", "region-jh-cosmic", url, "120", "0", "", "", "", ""],
    ["assertion", "ES384", "nokey", "region-jh-cosmic", "region-jh-cosmic", url, "900", "0", "", "", "", ""],
    ["raw", "none", "", url, "region-jh-cosmic", "https://brygga.example", "300", "0", "system/*.cruds", "SE2321000214-1000", "", "", "sig"],
    ["raw", "RS384", "k1", "region-jh-cosmic", "region-jh-cosmic", url, "120", "0", "", "", "", "", "AAAA"],
]:
    add("auth", "\n".join(lines).encode())

# Configuration: each file kind behind its selector byte (brygga::fuzzing::config).
kinds = [
    (0, ["deploy/config/brygga.toml"]),
    (1, ["deploy/config/organisations.toml"]),
    (2, ["deploy/config/clients.toml"]),
    (3, ["deploy/config/subscriptions.toml"]),
    (4, [str(p.relative_to(root)) for p in files("mappings/policies", "*.toml")]),
    (5, [str(p.relative_to(root)) for p in files("mappings/municipal", "*.toml")]),
    (6, [str(p.relative_to(root)) for p in files("fixtures/scenarios", "*.toml")]),
]
for selector, paths in kinds:
    for path in paths:
        add("config", bytes([selector]) + (root / path).read_bytes())

# Dictionaries: the names the formats use.
def write_dict(name, tokens):
    out = root / "fuzz" / "dict" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = sorted({t for t in tokens if t and len(t) < 64 and '"' not in t and "\\" not in t})
    out.write_text("".join(f'"{t}"\n' for t in lines))

xml_tokens = {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<!DOCTYPE", "<![CDATA[", "]]>", "<!--", "-->", "&amp;", "&lt;", "&#x", "xmlns", "xmlns:", "/>", "</"}
for path in xml_files:
    text = path.read_text(errors="ignore")
    xml_tokens.update(re.findall(r"</?([A-Za-z_][\w.:-]*)", text))
    xml_tokens.update(a + "=" for a in re.findall(r"\s([A-Za-z_][\w.:-]*)=", text))
write_dict("xml.dict", xml_tokens)
json_tokens = {"{", "}", "[", "]", ":", ",", "null", "true", "false", "1e999", "-0", "\\u0000"}
for path in files("fixtures", "*.json"):
    json_tokens.update(re.findall(r'"([A-Za-z_][\w.-]*)"\s*:', path.read_text(errors="ignore")))
write_dict("json.dict", json_tokens)
toml_tokens = {"[[", "]]", "=", "true", "false", "\"\"\"", "'''"}
for selector, paths in kinds:
    for path in paths:
        toml_tokens.update(re.findall(r"^\s*([A-Za-z_][\w.-]*)\s*=", (root / path).read_text(errors="ignore"), re.M))
        toml_tokens.update(re.findall(r"^\s*\[\[?([\w.]+)\]\]?", (root / path).read_text(errors="ignore"), re.M))
write_dict("toml.dict", toml_tokens)
