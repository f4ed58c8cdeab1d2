# md2man.awk - docs/s2s-trust.1.md (a small Markdown subset) to roff man(7).
# Ours because Debian's converters are heavy (pandoc) or need --version
# output (help2man); the subset is what the page uses and nothing more:
#   # NAME(SECTION) -- SUMMARY      first line: .TH and the NAME section
#   ## HEADING                      .SH
#   ```  ...  ```                   literal block (.nf/.fi, indented)
#   `TERM`  then  ":   TEXT" lines  definition list (.TP)
#   blank line                      new paragraph (.PP)
#   `code` **bold** *italic*        \fB \fB \fI inline
# Usage: awk -v version=V -v date=YYYY-MM-DD -f md2man.awk PAGE.md
# (mawk-compatible: no gawk extension.)

# Roff escapes: backslash first, then the hyphens options are made of.
function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    return s
}

# A line must not start with a control character.
function guard(s) {
    if (s ~ /^[.']/) s = "\\&" s
    return s
}

# Replace the pairs of DELIM in S by OPEN ... \fR.
function pairs(s, delim, open,    out, i, n) {
    out = ""
    n = 0
    while ((i = index(s, delim)) > 0) {
        out = out substr(s, 1, i - 1) (n % 2 == 0 ? open : "\\fR")
        s = substr(s, i + length(delim))
        n++
    }
    return out s
}

function inline(s) {
    s = esc(s)
    s = pairs(s, "`", "\\fB")
    s = pairs(s, "**", "\\fB")
    s = pairs(s, "*", "\\fI")
    return guard(s)
}

NR == 1 {
    # "# s2s-trust(1) -- summary"
    name = $2
    sub(/\(.*/, "", name)
    section = $2
    gsub(/.*\(|\).*/, "", section)
    summary = $0
    sub(/^.* -- */, "", summary)
    printf ".TH %s %s \"%s\" \"%s %s\" \"User Commands\"\n", toupper(esc(name)), section, date, esc(name), version
    printf ".SH NAME\n%s \\- %s\n", esc(name), esc(summary)
    next
}

literal && /^```/ { print ".fi"; print ".RE"; literal = 0; next }
literal { print guard(esc($0)); next }
/^```/ { print ".PP"; print ".RS 4"; print ".nf"; literal = 1; next }

/^## / { sub(/^## */, ""); print ".SH " toupper(esc($0)); para = 0; next }

# A definition: the term on its own line, its text on the next ones as
# ":   TEXT" and indented continuation lines. A line is only known to be a
# term when the next one starts with ":", so one line is held back.
/^:   / && held != "" {
    sub(/^:   */, "")
    print ".TP"
    print inline(held)
    held = ""
    para = 0
    print inline($0)
    next
}
{ flush() }
/^    / && !para { sub(/^ +/, ""); print inline($0); next }
/^$/ { para = 1; next }
{ held = $0 }
END { flush() }

function flush() {
    if (held == "") return
    if (para) { print ".PP"; para = 0 }
    sub(/^ +/, "", held)
    print inline(held)
    held = ""
}
