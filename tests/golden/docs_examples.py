#!/usr/bin/python3
"""docs_examples.py — every complete program in docs/language.md compiles.

    docs_examples.py ASTC DOC.md

A ```train block with a `train` line is a complete program: `astc check`
must accept it. A block that imports a module the document only shows (such
as `blocks` of §3.1) is skipped, named. Fragments (no train block) are not
checked. A failure prints the block's first line and astc's messages."""
import os
import re
import subprocess
import sys
import tempfile

astc, doc = sys.argv[1], sys.argv[2]
text = open(doc, encoding="utf-8").read()
failed = checked = 0
with tempfile.TemporaryDirectory() as tmp:
    for m in re.finditer(r"```train\n(.*?)```", text, re.S):
        block = m.group(1)
        if not re.search(r"^train ", block, re.M):
            continue
        line = text.count("\n", 0, m.start()) + 2
        path = os.path.join(tmp, f"line{line}.train")
        with open(path, "w", encoding="utf-8") as f:
            f.write(block)
        r = subprocess.run([astc, "check", "--quiet", path], capture_output=True, text=True)
        if r.returncode != 0 and "cannot find module" in r.stderr:
            print(f"{doc}:{line}: skipped (imports a module the document only shows)")
            continue
        checked += 1
        if r.returncode != 0:
            failed += 1
            print(f"{doc}:{line}: astc check failed:\n{r.stderr}")
print(f"{checked} programs checked, {failed} failed")
sys.exit(1 if failed or not checked else 0)
