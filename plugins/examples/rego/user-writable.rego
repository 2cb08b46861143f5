# A rule policy: denies executables without a valid signature that run from folders any
# user can write to. The same logic as the Rust component `rust/user-writable`.
package portcullis.rule

# Windows: the path's components, lowercased, either separator.
parts := [p | some p in split(replace(lower(input.path), "/", "\\"), "\\"); p != ""]

user_writable if {
	input.os == "windows"
	count(parts) >= 4
	parts[1] == "users"
	parts[2] == "public"
}

user_writable if {
	input.os == "windows"
	count(parts) >= 5
	parts[1] == "users"
	parts[3] in {"appdata", "downloads", "desktop", "documents"}
}

user_writable if {
	input.os == "windows"
	count(parts) >= 4
	parts[1] == "windows"
	parts[2] == "temp"
}

user_writable if {
	input.os == "linux"
	some prefix in ["/tmp/", "/var/tmp/", "/dev/shm/"]
	startswith(input.path, prefix)
}

user_writable if {
	input.os == "linux"
	home_depth("/home/") >= 2
}

user_writable if {
	input.os == "macos"
	some prefix in ["/tmp/", "/private/tmp/"]
	startswith(input.path, prefix)
}

user_writable if {
	input.os == "macos"
	home_depth("/Users/") >= 2
}

# How many non-empty components follow `prefix`; undefined when the path does not
# start with it.
home_depth(prefix) := n if {
	startswith(input.path, prefix)
	rest := substring(input.path, count(prefix), -1)
	n := count([p | some p in split(rest, "/"); p != ""])
}

verdict := {
	"verdict": "deny",
	"reason": sprintf("`%s` has no valid signature and runs from a folder users can write to", [input.path]),
} if {
	input.signature != "valid"
	user_writable
}
