#!/usr/bin/env python3
"""Top functions of a callgrind profile with readable names (template arguments and parameter
lists folded away), exclusive and inclusive, per request.

callgrind_top.py CALLGRIND.OUT REQUESTS [TOP]
"""

import re
import subprocess
import sys

PROJECT = re.compile(r"^(orp::|SSL_read|SSL_write|malloc$|free$|operator new|operator delete|spdlog::|"
                     r"fmt::v9::vformat|llhttp_execute|ERR_clear_error|__libc_|__send|__recv|sendmsg|recvmsg|"
                     r"epoll_wait|clock_gettime|boost::asio::steady_timer|boost::asio::detail::epoll_reactor::|"
                     r"boost::asio::cancellation_slot::prepare_memory)")
LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$")


def fold(text, open_ch, close_ch):
    """Drops everything between matching brackets (nested)."""
    out, depth = [], 0
    for ch in text:
        if ch == open_ch:
            depth += 1
            if depth == 1:
                out.append(open_ch + close_ch)
            continue
        if ch == close_ch and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


def short_name(raw):
    name = re.sub(r"\s*\[[^\]]*\]\s*$", "", raw)      # [object file]
    lib = re.search(r"\[([^\]]*)\]\s*$", raw)
    name = re.sub(r"^.*?:(?=[^/]*$)", "", name, count=1) if name.startswith(("./", "/", "???:")) else name
    name = name.replace("[clone .actor]", "(coroutine)").replace("[clone .isra.0]", "")
    name = name.replace("operator()", "operator_call")
    name = fold(name, "<", ">")
    name = fold(name, "(", ")")
    name = name.replace("operator_call", "operator()").replace("<>", "").replace("()", "")
    name = re.sub(r"\s+", " ", name).strip()
    if name.startswith("_ZN"):
        name = "(mangled) " + name[:60]
    if len(name) > 110:
        name = name[:107] + "..."
    where = lib.group(1).rsplit("/", 1)[-1] if lib else ""
    return name + ("  [" + where + "]" if where and "openrouter-proxy" not in where else "")


def top(path, inclusive, n):
    res = subprocess.run(["callgrind_annotate", "--inclusive=" + ("yes" if inclusive else "no"), path],
                         capture_output=True, text=True, timeout=120)
    rows, total = [], None
    for line in res.stdout.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        count = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in m.group(3):
            total = count
            continue
        rows.append((count, float(m.group(2)), short_name(m.group(3))))
    return total, rows[:n]


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    total, excl = top(path, False, n)
    _, incl = top(path, True, n + 15)
    _, incl_all = top(path, True, 400)
    print("total: %s instructions for %d requests = %.0f instructions per request\n"
          % (format(total or 0, ","), requests, (total or 0) / max(requests, 1)))
    print("exclusive (self) cost, top %d:" % n)
    print("  %7s %12s  %s" % ("%", "Ir/request", "function"))
    for count, pct, name in excl:
        print("  %6.2f%% %12.0f  %s" % (pct, count / requests, name))
    print("\ninclusive cost (the function and what it calls), Asio's dispatch frames included:")
    for count, pct, name in incl:
        print("  %6.2f%% %12.0f  %s" % (pct, count / requests, name))
    print("\ninclusive cost of the project's functions and the library entry points they reach:")
    seen = set()
    for count, pct, name in incl_all:
        base = name.split("  [")[0].rstrip("'0123456789")
        if base in seen or not PROJECT.search(base):
            continue
        seen.add(base)
        print("  %6.2f%% %12.0f  %s" % (pct, count / requests, name))


if __name__ == "__main__":
    main()
