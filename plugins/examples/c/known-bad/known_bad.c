// Rejects a request for a file whose SHA-256 is on the tenant's known-bad list: the
// same logic as rust/known-bad and rego/known-bad.rego, in C.
//
// Setting `hashes`: SHA-256 values separated by commas, spaces or newlines.
//
// Built by plugins/examples/build: `wit-bindgen c` writes approval_review.{h,c}, zig
// compiles for wasm32-wasi, and `wasm-tools component new` makes the component.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approval_review.h"

static bool is_separator(uint8_t c) {
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static uint8_t lower(uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

static bool same_ignoring_case(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
    if (a_len != b_len) {
        return false;
    }
    for (size_t i = 0; i < a_len; i++) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

// Whether `hash` is one of the entries of `list`.
static bool listed(const approval_review_string_t *list, const approval_review_string_t *hash) {
    size_t i = 0;
    while (i < list->len) {
        while (i < list->len && is_separator(list->ptr[i])) {
            i++;
        }
        size_t start = i;
        while (i < list->len && !is_separator(list->ptr[i])) {
            i++;
        }
        if (i > start && same_ignoring_case(list->ptr + start, i - start, hash->ptr, hash->len)) {
            return true;
        }
    }
    return false;
}

void exports_portcullis_plugin_approval_reviewer_review(
    exports_portcullis_plugin_approval_reviewer_approval_input_t *input,
    exports_portcullis_plugin_approval_reviewer_verdict_t *ret) {
    approval_review_string_t key;
    approval_review_string_set(&key, "hashes");
    approval_review_string_t hashes;
    ret->tag = PORTCULLIS_PLUGIN_TYPES_VERDICT_ABSTAIN;
    const approval_review_string_t *hash = &input->request.execution.sha256;
    if (portcullis_plugin_host_config(&key, &hashes)) {
        if (listed(&hashes, hash)) {
            static const char before[] = "the file `";
            static const char after[] = "` is on the known-bad list";
            size_t len = strlen(before) + hash->len + strlen(after);
            uint8_t *reason = malloc(len);
            if (reason != NULL) {
                memcpy(reason, before, strlen(before));
                memcpy(reason + strlen(before), hash->ptr, hash->len);
                memcpy(reason + strlen(before) + hash->len, after, strlen(after));
                ret->tag = PORTCULLIS_PLUGIN_TYPES_VERDICT_REJECT;
                ret->val.reject.ptr = reason;
                ret->val.reject.len = len;
            }
        }
        approval_review_string_free(&hashes);
    }
    exports_portcullis_plugin_approval_reviewer_approval_input_free(input);
}
