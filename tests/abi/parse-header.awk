# SPDX-License-Identifier: MIT
#
# parse-header.awk - list what a UAPI header defines, for check-layout.sh.
#
# Reads one C header and prints one record per line:
#   S <struct>            a top-level struct definition
#   F <struct> <path>     a member of it; members of nested named structs or
#                         unions are written a.b, members of anonymous ones
#                         appear at the level of their parent
#   A <struct> <path>     a flexible array member (declared NAME[]): it has
#                         an offset and an element size but no size
#   C <name>              an enum constant or an object-like #define whose
#                         name does not start with '_'
#   T <name>              such a #define whose value is a string literal
#
# Only what these headers use is understood: one declaration per line or
# comma list, nested struct/union blocks, enum blocks, #define lines. It is
# a lister, not a C parser; the compiler checks every name it prints.
# Plain POSIX awk (mawk is fine).

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

# Remove /* */ comments (possibly spanning lines) and // comments.
function strip_comments(s,    out, p) {
	out = ""
	while (s != "") {
		if (in_comment) {
			p = index(s, "*/")
			if (p == 0)
				return out
			s = substr(s, p + 2)
			in_comment = 0
			continue
		}
		p = index(s, "/*")
		if (p == 0)
			break
		out = out substr(s, 1, p - 1) " "
		s = substr(s, p + 2)
		in_comment = 1
	}
	out = out s
	p = index(out, "//")
	if (p > 0)
		out = substr(out, 1, p - 1)
	return out
}

# kind: "C" for a value, "T" for a string literal
function emit_const(name, kind) {
	if (name ~ /^[A-Za-z][A-Za-z0-9_]*$/ && !(name in seen_const)) {
		seen_const[name] = 1
		print kind " " name
	}
}

# Leading identifier of an enum body item ("NAME = value" or "NAME").
function enum_items(body,    n, i, parts, item) {
	n = split(body, parts, ",")
	for (i = 1; i <= n; i++) {
		item = trim(parts[i])
		sub(/[ \t]*=.*/, "", item)
		if (item != "")
			emit_const(item, "C")
	}
}

# Names declared by one member declaration (text before ';'). A flexible
# array member is recorded as NAME[] so that it is listed as such.
function decl_names(decl,    n, i, parts, d, flex) {
	# annotations after the declarator, e.g. __counted_by(nr)
	gsub(/__counted_by[ \t]*\([^)]*\)/, "", decl)
	n = split(decl, parts, ",")
	for (i = 1; i <= n; i++) {
		d = trim(parts[i])
		flex = (d ~ /\[[ \t]*\][ \t]*$/)
		gsub(/\[[^]]*\]/, "", d)		# arrays
		gsub(/:[ \t]*[0-9]+/, "", d)		# bit-fields
		d = trim(d)
		if (match(d, /[A-Za-z_][A-Za-z0-9_]*$/))
			add_member(substr(d, RSTART, RLENGTH) (flex ? "[]" : ""))
	}
}

function add_member(name) {
	members[depth] = members[depth] " " name
}

# Close the innermost nested block; name is "" for an anonymous one.
function close_block(name,    n, i, list, out) {
	n = split(members[depth], list, " ")
	out = ""
	if (name != "")
		out = " " name
	for (i = 1; i <= n; i++)
		out = out " " (name != "" ? name "." : "") list[i]
	members[depth] = ""
	depth--
	members[depth] = members[depth] out
}

function finish_struct(    n, i, list, m) {
	print "S " sname
	n = split(members[1], list, " ")
	for (i = 1; i <= n; i++) {
		m = list[i]
		if (sub(/\[\]$/, "", m))
			print "A " sname " " m
		else
			print "F " sname " " m
	}
	members[1] = ""
	depth = 0
	sname = ""
}

BEGIN {
	depth = 0		# 0: outside, 1: top struct body, >1: nested
	in_enum = 0
	in_comment = 0
	in_define = 0
}

{
	line = strip_comments($0)

	# continuation of a multi-line #define: ignore the body
	if (in_define) {
		in_define = (line ~ /\\[ \t]*$/)
		next
	}

	if (line ~ /^[ \t]*#[ \t]*define[ \t]/) {
		d = line
		sub(/^[ \t]*#[ \t]*define[ \t]+/, "", d)
		in_define = (d ~ /\\[ \t]*$/)
		if (match(d, /^[A-Za-z_][A-Za-z0-9_]*/)) {
			name = substr(d, 1, RLENGTH)
			rest = substr(d, RLENGTH + 1)
			# object-like, with a value (maybe on the next line)
			if (rest !~ /^\(/ && trim(rest) != "" && name !~ /^_/)
				emit_const(name, trim(rest) ~ /^"/ ? "T" : "C")
		}
		next
	}
	if (line ~ /^[ \t]*#/)
		next

	if (in_enum) {
		p = index(line, "}")
		if (p > 0) {
			enum_body = enum_body " " substr(line, 1, p - 1)
			enum_items(enum_body)
			in_enum = 0
		} else {
			enum_body = enum_body " " line
		}
		next
	}

	if (depth == 0) {
		if (line ~ /^[ \t]*enum([ \t]+[A-Za-z_][A-Za-z0-9_]*)?[ \t]*\{/) {
			in_enum = 1
			enum_body = substr(line, index(line, "{") + 1)
			p = index(enum_body, "}")
			if (p > 0) {
				enum_items(substr(enum_body, 1, p - 1))
				in_enum = 0
			}
			next
		}
		if (line ~ /^[ \t]*struct[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\{/) {
			s = line
			sub(/^[ \t]*struct[ \t]+/, "", s)
			match(s, /^[A-Za-z_][A-Za-z0-9_]*/)
			sname = substr(s, 1, RLENGTH)
			depth = 1
			members[1] = ""
		}
		next
	}

	# inside a struct body
	if (line ~ /^[ \t]*(struct|union)([ \t]+[A-Za-z_][A-Za-z0-9_]*)?[ \t]*\{/) {
		depth++
		members[depth] = ""
		next
	}
	if (line ~ /^[ \t]*\}/) {
		s = line
		sub(/^[ \t]*\}[ \t]*/, "", s)
		sub(/[ \t]*;.*/, "", s)
		s = trim(s)
		if (depth == 1) {
			finish_struct()
		} else {
			close_block(s)
		}
		next
	}
	p = index(line, ";")
	if (p > 0)
		decl_names(substr(line, 1, p - 1))
}
