#!/usr/bin/env python3
"""Lists the longest function bodies in C++ sources (a brace-counting heuristic, no compiler).

Usage: scripts/longest_functions.py [--top N] [--over LINES] [--tests] [PATH...]   (default: src)

--tests lists GoogleTest bodies only (TEST, TEST_F, TEST_P, TYPED_TEST), named by suite and test:
`scripts/longest_functions.py --tests --over 60 tests` lists the tests longer than 60 lines, which
usually mix several scenarios (docs/testing.md, "One scenario per test").

A function is a block opened after a parameter list (`) {`, `) const {`, `) override {`,
`-> T {`...) outside any other function; lambdas and local classes count as part of the function
that contains them. Comments and string literals are skipped. Lengths are in lines, from the line
of the opening brace's signature to the closing brace. Data tables (brace initialisers) are not
functions and are not listed.
"""
import argparse
import os
import re
import sys

TEST_MACRO = re.compile(r"^(TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)$")
CONTROL = re.compile(r"^(if|for|while|switch|catch|else|do|try|return|case)\b")
SIGNATURE_END = re.compile(
    r"\)\s*(const|override|final|noexcept(\([^)]*\))?|mutable|&|&&|\s|->\s*[\w:<>,\s*&]+)*$")


def strip(text):
    """Comments and string/char literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ")" + m.group(1) + '"'
            j = text.find(end, i)
            j = n if j < 0 else j + len(end)
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
            out.append(c)  # a digit separator (10'000), not a character literal
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    text = strip(open(path, encoding="utf-8", errors="replace").read())
    results = []
    stack = []  # per open brace: True if it opened a function body (outermost only)
    in_function = 0
    head_start = 0  # index where the current statement/declaration began
    line_of = lambda idx: text.count("\n", 0, idx) + 1
    for i, c in enumerate(text):
        if c == "{":
            head = text[head_start:i].strip()
            is_fn = (in_function == 0 and SIGNATURE_END.search(head) is not None and "(" in head and
                     not CONTROL.match(head) and not head.startswith(("namespace", "class", "struct", "enum")) and
                     not re.search(r"=\s*$", head))
            if is_fn:
                name = re.sub(r"\s+", " ", head.split("(")[0]).split(" ")[-1]
                if TEST_MACRO.match(name):
                    name = re.sub(r"\s+", "", head)  # TEST_F(Suite,Name)
                stack.append((True, i, name, head_start))
                in_function += 1
            else:
                stack.append((False, i, None, None))
            head_start = i + 1
        elif c == "}":
            if stack:
                is_fn, start, name, hs = stack.pop()
                if is_fn:
                    in_function -= 1
                    first = line_of(hs + len(text[hs:start]) - len(text[hs:start].lstrip()))
                    results.append((line_of(i) - first + 1, path, first, name))
            head_start = i + 1
        elif c == ";":
            head_start = i + 1
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*", default=["src"])
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--over", type=int, default=0, help="only functions longer than this")
    ap.add_argument("--tests", action="store_true", help="only GoogleTest bodies (TEST, TEST_F...)")
    args = ap.parse_args()
    found = []
    for root in args.paths:
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.endswith((".cpp", ".hpp", ".cc", ".h")):
                    found += functions(os.path.join(dirpath, f))
    if args.tests:
        found = [f for f in found if TEST_MACRO.match(f[3].split("(")[0])]
    found.sort(reverse=True)
    shown = [f for f in found if f[0] > args.over][: args.top]
    for length, path, line, name in shown:
        print(f"{length:5d}  {path}:{line}  {name}")
    kind = "tests" if args.tests else "functions"
    over = sum(1 for f in found if f[0] > args.over) if args.over else len(found)
    print(f"{len(found)} {kind}; longest {found[0][0] if found else 0} lines" +
          (f"; {over} longer than {args.over}" if args.over else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
