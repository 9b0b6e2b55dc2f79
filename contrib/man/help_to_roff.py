#!/usr/bin/python3
"""help_to_roff.py - staffeld(8) and staffelctl(8) from their --help texts.

Purpose: the --help of staffeld and of every staffelctl command is written
  as a man page already (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS,
  EXAMPLES, ...); this turns it into roff, so the installed man pages say
  exactly what --help says. staffelctl(8) holds the main help and then each
  command's (found through the COMMANDS sections, recursively).
Usage: help_to_roff.py staffeld|staffelctl BINARY VERSION DATE [OUTPUT]
  (standard output without OUTPUT)
Output: man(7) macros; section headings become .SH (.SS inside a
  command), the text under them is set as written (no filling), with roff's
  special characters escaped.
"""
import re
import subprocess
import sys

HEADING = re.compile(r"^[A-Z][A-Z ]+$")


def escape(line: str) -> str:
    line = line.replace("\\", "\\e").replace("-", "\\-")
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def help_of(binary, args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        sys.exit("help_to_roff: %s %s --help exited %d: %s" %
                 (binary, " ".join(args), r.returncode, r.stderr))
    return r.stdout


def sections(text):
    """[(heading, [lines])], headings as written ("Options:" -> "OPTIONS")."""
    out = []
    for line in text.rstrip("\n").split("\n"):
        stripped = line.rstrip()
        if HEADING.match(stripped) or stripped in ("Options:", "Subcommands:"):
            out.append((stripped.rstrip(":").upper(), []))
        elif stripped.startswith("Usage: "):
            out.append(("SYNOPSIS", ["  " + stripped[len("Usage: "):]]))
        elif not out:
            out.append(("DESCRIPTION", [line]))
        else:
            out[-1][1].append(line)
    return out


def body(lines):
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    out = [".nf"]
    for line in lines:
        out.append(escape(line[2:] if line.startswith("  ") else line) if line.strip() else "")
    out.append(".fi")
    return "\n".join(out)


def commands_of(parts):
    names = []
    for heading, lines in parts:
        if heading in ("COMMANDS", "SUBCOMMANDS"):
            for line in lines:
                m = re.match(r"^  ([a-z][a-z-]*)\s", line)
                if m:
                    names.append(m.group(1))
    return names


def page(program, binary, version, date):
    top = sections(help_of(binary, []))
    out = ['.\\" Generated from "%s --help" by contrib/man/help_to_roff.py; do not edit.'
           % program,
           '.TH %s 8 "%s" "Staffel %s" "System Manager\'s Manual"' % (program.upper(), date,
                                                                      version)]
    if "NAME" not in [h for h, _ in top]:
        # staffeld's help starts "staffeld - what it is." and a description.
        first = top[0][1][0].strip() if top and top[0][1] else program
        out += [".SH NAME", escape(first)]
        top[0] = (top[0][0], top[0][1][1:])
        top.sort(key=lambda part: part[0] != "SYNOPSIS")  # stable: the rest keep their order
    for heading, lines in top:
        if heading == "NAME":
            text = " ".join(l.strip() for l in lines if l.strip())
            out += [".SH NAME", escape(text)]
            continue
        out += [".SH " + heading, body(lines)]
    todo = [[c] for c in commands_of(top)]
    while todo:
        path = todo.pop(0)
        parts = sections(help_of(binary, path))
        out.append(".SH COMMAND: %s %s" % (program, " ".join(path).upper()))
        for heading, lines in parts:
            if heading == "NAME":
                continue
            out += [".SS " + heading, body(lines)]
        todo += [path + [c] for c in commands_of(parts)]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit("usage: help_to_roff.py staffeld|staffelctl BINARY VERSION DATE [OUTPUT]")
    text = page(*sys.argv[1:5])
    if len(sys.argv) == 6:
        with open(sys.argv[5], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
