# Approves, at computer scope and by certificate, a request for a file whose valid
# signature comes from a publisher the tenant trusts. The same logic as the Rust
# component `rust/trusted-publisher`.
#
# Setting `publishers`: trusted signer subjects separated by `|`, compared without case
# and surrounding spaces.
package portcullis.approval_review

execution := input.request.execution

subject := trim_space(execution.signers[0].subject)

trusted if {
	execution.signature == "valid"
	some publisher in split(object.get(data.config, "publishers", ""), "|")
	trim_space(publisher) != ""
	lower(trim_space(publisher)) == lower(subject)
}

verdict := {
	"verdict": "approve",
	"options": {
		"scope": "computer",
		"match_kind": "certificate",
		"elevate": false,
		"expires": null,
		"justification": sprintf("signed by trusted publisher `%s`", [subject]),
	},
} if trusted
