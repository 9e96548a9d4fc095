"""A real workload: Markdown and docutils (Debian's python3-markdown and
python3-docutils, pure Python) render two documents; main() prints a digest
of each output.  Run as a script, it runs main() once."""
import hashlib

import docutils.core
import markdown

MARKDOWN = """\
# Release notes

Some *emphasis*, some **strong** text and `code`.

| name | value |
|------|-------|
| a    | 1     |

```python
print("fenced")
```

- [x] one
- two
"""

RST = """\
Release notes
=============

Some *emphasis*, some **strong** text and ``code``.

.. note:: A directive.

=====  =====
name   value
=====  =====
a      1
=====  =====

.. [#] A footnote.
"""


def render():
    md = markdown.markdown(MARKDOWN, extensions=["tables", "fenced_code",
                                                 "toc"])
    rst = docutils.core.publish_string(
        RST, writer_name="html",
        settings_overrides={"_disable_config": True, "report_level": 5,
                            "embed_stylesheet": False}).decode()
    return md, rst


def main():
    for name, text in zip(("markdown", "docutils"), render()):
        print(name, len(text), hashlib.sha256(text.encode()).hexdigest())


if __name__ == "__main__":
    main()
