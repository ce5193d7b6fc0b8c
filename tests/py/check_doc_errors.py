#!/usr/bin/python3
"""Every error quoted in the docs names the source line that raises it.

usage: check_doc_errors.py [--fix] ROOT

The docs quote custseg's messages as they print, `MESSAGE [rank R, src/PATH.c:LINE]`. For each
quote, line LINE of src/PATH.c must raise an error (__LINE__, CS_FAIL, CS_CHECK, CS_H5 or
CS_BAD_ROW on it), and one run of concatenated string literals of its statement (up to the
line ending in ';'), with its printf conversions read as wildcards, must be the whole message
after "error: " (so an argument such as an option name cannot stand in for the format).
Runs of fewer than 8 plain characters prove nothing and do not count. A quote that fails is
listed with the place its message is raised now when there is exactly one (in that file,
else in any file under src/); --fix rewrites such quotes to that place (the docs' line
numbers drift as the sources change). Quotes whose message could come from several places
are left to be fixed by hand. Exit status 1 when a quote fails (after --fix: when one could
not be fixed)."""
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
    """The plain characters of the literal run of the statement at line that, with printf
    conversions as wildcards, is the whole of msg (from after "error: " on); 0 when none is
    (runs under 8 plain characters do not count)."""
    if line < 1 or line > len(lines):
        return 0
    text_msg = msg.split("error: ", 1)[1] if "error: " in msg else msg
    best = 0
    for text in literal_runs(lines, line):
        text = text.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "")
        parts = CONVERSION.split(text)
        plain = sum(len(p) for p in parts)
        rx = "(?s)" + ".*?".join(re.escape(p.replace("%%", "%")) for p in parts)
        if plain >= 8 and plain > best and re.fullmatch(rx, text_msg):
            best = plain
    return best


def matches(lines, line, msg):
    return score(lines, line, msg) > 0


def best_place(root, path, lines, line, msg):
    """((path, line), 1) where msg is raised now, or (None, number of candidate places): see
    the module's docstring."""
    def places(p, ls):
        return [(score(ls, i, msg), -abs(i - line) if p == path else 0, p, i)
                for i in range(1, len(ls) + 1) if matches(ls, i, msg)]
    found = places(path, lines)
    if not found:
        for src in sorted(glob.glob(os.path.join(root, "src", "**", "*.c"), recursive=True)):
            with open(src, encoding="utf-8") as f:
                found += places(os.path.relpath(src, root), f.read().split("\n"))
    if len(found) != 1:
        return None, len(found)  # nowhere, or more than one place it could be
    return (found[0][2], found[0][3]), 1


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
            place, nfound = best_place(root, path, lines, line, msg)
            hint = (f", raised now at {place[0]}:{place[1]}" if place else
                    f", raised at {nfound} places: fix by hand" if nfound else ", raised nowhere")
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
