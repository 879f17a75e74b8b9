#!/usr/bin/env python3
"""Validates a MISP feed directory with PyMISP, the way a MISP instance and PyMISP's own feed
generator read it: every event loads with MISPEvent.load_file, every object matches the object
template PyMISP ships (name, template uuid and version, relations, attribute types and categories,
required / requiredOneOf / multiple, checked by MISPObject's strict validation), every attribute
type/category pair is valid, manifest.json lists exactly the events with the summary PyMISP derives
from them, and hashes.csv holds exactly the MD5s PyMISP computes for their values.

Usage: validate_with_pymisp.py FEED_DIR   (a directory holding manifest.json)
Prints a JSON summary on stdout; exits 1 with the problems on stderr if any.
"""
import collections
import json
import pathlib
import sys

from pymisp import MISPAttribute, MISPEvent, MISPObject


def check_object(obj, problems, where):
    template = MISPObject(obj.name, strict=True)  # raises for a template PyMISP does not know
    if obj.template_uuid != template.template_uuid:
        problems.append(f"{where}: template_uuid {obj.template_uuid} != {template.template_uuid}")
    if int(obj.template_version) != int(template.template_version):
        problems.append(f"{where}: template_version {obj.template_version} != {template.template_version}")
    if getattr(obj, "meta-category") != getattr(template, "meta-category"):
        problems.append(f"{where}: meta-category differs from the template's")
    definition = template._definition["attributes"]
    for a in obj.attributes:
        spec = definition.get(a.object_relation)
        if spec is None:
            problems.append(f"{where}: relation {a.object_relation} is not in the template")
            continue
        if a.type != spec["misp-attribute"]:
            problems.append(f"{where}: {a.object_relation} has type {a.type}, template says {spec['misp-attribute']}")
        if "categories" in spec and a.category not in spec["categories"]:
            problems.append(f"{where}: {a.object_relation} category {a.category} not in {spec['categories']}")
        if bool(a.disable_correlation) != bool(spec.get("disable_correlation", False)):
            problems.append(f"{where}: {a.object_relation} disable_correlation differs from the template")
        strict = MISPAttribute(strict=True)
        strict.from_dict(type=a.type, category=a.category, value=a.value)  # raises on a bad pair
        template.add_attribute(a.object_relation, value=a.value, type=a.type, category=a.category,
                               to_ids=a.to_ids, comment=a.comment)
    template.to_dict(strict=True)  # required, requiredOneOf, multiple: raises InvalidMISPObject


def main():
    feed = pathlib.Path(sys.argv[1])
    problems = []
    manifest = json.loads((feed / "manifest.json").read_text())
    hashes = collections.defaultdict(list)
    for line in (feed / "hashes.csv").read_text().splitlines():
        h, _, uuid = line.partition(",")
        hashes[uuid].append(h)
    files = sorted(p for p in feed.glob("*.json") if p.name != "manifest.json")
    if {p.stem for p in files} != set(manifest):
        problems.append(f"manifest lists {sorted(manifest)}, directory has {[p.stem for p in files]}")
    summary = {"events": 0, "objects": collections.Counter(), "attributes": 0, "tags": {}}
    for path in files:
        event = MISPEvent()
        event.load_file(path)
        where = path.name
        summary["events"] += 1
        if event.uuid != path.stem:
            problems.append(f"{where}: uuid {event.uuid} differs from the file name")
        expected = event.manifest[event.uuid]  # what PyMISP's feed generator would write
        entry = manifest.get(event.uuid, {})
        for key in ("info", "date", "Orgc"):
            if entry.get(key) != expected[key]:
                problems.append(f"{where}: manifest {key} {entry.get(key)!r} != {expected[key]!r}")
        for key in ("analysis", "threat_level_id", "timestamp"):
            if str(entry.get(key)) != str(expected[key]):
                problems.append(f"{where}: manifest {key} {entry.get(key)!r} != {expected[key]!r}")
        if [t["name"] for t in entry.get("Tag", [])] != [t["name"] for t in expected["Tag"]]:
            problems.append(f"{where}: manifest tags differ from the event's")
        if sorted(hashes.get(event.uuid, [])) != sorted(event.attributes_hashes("md5")):
            problems.append(f"{where}: hashes.csv does not hold the MD5s of its values")
        for obj in event.objects:
            summary["objects"][obj.name] += 1
            summary["attributes"] += len(obj.attributes)
            try:
                check_object(obj, problems, f"{where} object {obj.uuid} ({obj.name})")
            except Exception as e:  # PyMISP's own refusal, with its message
                problems.append(f"{where} object {obj.uuid} ({obj.name}): {type(e).__name__}: {e}")
        summary["tags"][event.uuid] = [t.name for t in event.tags]
    extra = set(hashes) - set(manifest)
    if extra:
        problems.append(f"hashes.csv names events that are not in the manifest: {sorted(extra)}")
    summary["objects"] = dict(summary["objects"])
    print(json.dumps(summary, sort_keys=True))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
