#!/usr/bin/python3
"""Every error quoted in the docs names the source line that raises it.

usage: check_doc_errors.py [--fix] ROOT

The docs quote custseg's messages as they print, `MESSAGE [rank R, src/PATH.c:LINE]`. For each
quote, line LINE of src/PATH.c must raise an error (__LINE__, CS_FAIL, CS_CHECK, CS_H5 or
CS_BAD_ROW on it), and the format of its statement (up to the line ending in ';': the first string literal
and those concatenated to it), with their printf conversions read as wildcards, must be found in MESSAGE.
Literals of fewer than 8 plain characters or without a space (option names passed as
arguments) prove nothing and do not count. A quote that fails
is listed with the place its message is raised now: of the lines (in that file, else in any
file under src/) whose literal is found in MESSAGE, the one with the longest literal, then
the nearest; --fix rewrites the quote to that place (the docs' line numbers drift as the
sources change; check the rewritten lines). Exit status 1 when a quote fails (after --fix:
when one could not be fixed)."""
import glob
import os
import re
import sys

QUOTE = re.compile(r"(?P<msg>[^\n]*?) \[rank \d+, (?P<path>src/[\w/]+\.c):(?P<line>\d+)\]")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
CONVERSION = re.compile(r"%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|z|j|t|L)?[diouxXeEfgGcsp%]")
WINDOW = 7


RAISES = re.compile(r"__LINE__|\bCS_(?:FAIL|CHECK|H5|BAD_ROW)\(")


def literal_runs(lines, start):
    """The runs of concatenated string literals (one of them the format) of the statement that
    starts on line start (1-based; up to the first line ending in ';', at most WINDOW lines)
    when it raises an error; [] otherwise."""
    stmt = []
    for ln in lines[start - 1:start - 1 + WINDOW]:
        stmt.append(ln)
        if ln.rstrip().endswith(";"):
            break
    if not RAISES.search(stmt[0] if stmt else ""):
        return []
    body, runs, end = "\n".join(stmt), [], -1
    for m in LITERAL.finditer(body):
        if runs and body[end:m.start()].strip() == "":
            runs[-1] += m.group(1)
        else:
            runs.append(m.group(1))
        end = m.end()
    return runs


def score(lines, line, msg):
    """The plain characters of the longest literal run of the statement at line that is found
    in msg (printf conversions as wildcards; runs under 8 plain characters or without a space,
    such as option names passed as arguments, do not count)."""
    if line < 1 or line > len(lines):
        return 0
    best = 0
    for text in literal_runs(lines, line):
        text = text.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "")
        parts = CONVERSION.split(text)
        plain = sum(len(p) for p in parts)
        rx = ".*?".join(re.escape(p.replace("%%", "%")) for p in parts)
        if plain >= 8 and " " in text and plain > best and re.search(rx, msg):
            best = plain
    return best


def matches(lines, line, msg):
    return score(lines, line, msg) > 0


def best_place(root, path, lines, line, msg):
    """(path, line) where msg is raised now, or None: see the module's docstring."""
    def places(p, ls):
        return [(score(ls, i, msg), -abs(i - line) if p == path else 0, p, i)
                for i in range(1, len(ls) + 1) if matches(ls, i, msg)]
    found = places(path, lines)
    if not found:
        for src in sorted(glob.glob(os.path.join(root, "src", "**", "*.c"), recursive=True)):
            with open(src, encoding="utf-8") as f:
                found += places(os.path.relpath(src, root), f.read().split("\n"))
    if not found:
        return None
    found.sort(reverse=True)
    if len(found) > 1 and found[0][:2] == found[1][:2]:
        return None  # two places as good as each other
    return found[0][2], found[0][3]


def main():
    args = sys.argv[1:]
    fix = "--fix" in args
    args = [a for a in args if a != "--fix"]
    root = args[0] if args else "."
    docs = sorted(glob.glob(os.path.join(root, "docs", "*.md"))) + [os.path.join(root, "README.md")]
    bad = checked = fixed = 0
    for doc in docs:
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        new_text = text
        for m in QUOTE.finditer(text):
            msg, path, line = m.group("msg"), m.group("path"), int(m.group("line"))
            src = os.path.join(root, path)
            where = f"{os.path.relpath(doc, root)}:{text.count(chr(10), 0, m.start()) + 1}"
            if not os.path.exists(src):
                print(f"{where}: {path} does not exist")
                bad += 1
                continue
            with open(src, encoding="utf-8") as f:
                lines = f.read().split("\n")
            checked += 1
            if matches(lines, line, msg):
                continue
            place = best_place(root, path, lines, line, msg)
            hint = f", raised now at {place[0]}:{place[1]}" if place else ", raised nowhere that can be told"
            if fix and place:
                old = m.group(0)
                new = old[: -len(f"{path}:{line}]")] + f"{place[0]}:{place[1]}]"
                new_text = new_text.replace(old, new, 1)
                fixed += 1
                print(f"{where}: {path}:{line} -> {place[0]}:{place[1]}")
                continue
            print(f"{where}: {path}:{line} does not raise '{msg[-70:]}'{hint}")
            bad += 1
        if new_text != text:
            with open(doc, "w", encoding="utf-8") as f:
                f.write(new_text)
    print(f"{checked} quoted errors checked, {fixed} line numbers fixed, {bad} wrong")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
