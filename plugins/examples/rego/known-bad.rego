# Rejects a request for a file whose SHA-256 is on the tenant's known-bad list. The same
# logic as the Rust component `rust/known-bad` and the C component `c/known-bad`.
#
# Setting `hashes`: SHA-256 values separated by commas, spaces or newlines.
package portcullis.approval_review

hash := input.request.execution.sha256

# Every separator becomes a space, then the list splits on spaces.
spaced := replace(replace(replace(replace(object.get(data.config, "hashes", ""), ",", " "), "\n", " "), "\r", " "), "\t", " ")

listed if {
	some listed_hash in split(spaced, " ")
	listed_hash != ""
	lower(listed_hash) == lower(hash)
}

verdict := {"verdict": "reject", "reason": sprintf("the file `%s` is on the known-bad list", [hash])} if listed
