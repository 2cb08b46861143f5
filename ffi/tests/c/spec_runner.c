/*
 * Decides SPEC cases in C. tests/native.rs writes the input, one case file at a time:
 * the first line is the bundle's JSON, every other line an event, each text in hex so
 * that any byte survives ("-" for an absent field, "=" for an empty one):
 *
 *   computer user path sha256 time parent created_by elevation status subject issuer thumbprint
 *
 * For each event it prints the decision on one line:
 *
 *   outcome flags mode request_kind policy application notify_count generation
 *
 * and tests/native.rs compares that with the Rust decision.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "portcullis.h"

static int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes the hex word at *cursor in place; "-" is absent (null). */
static PortcullisStr next_field(char **cursor) {
    PortcullisStr out = {NULL, 0};
    char *start = *cursor;
    char *end = start;
    while (*end && *end != ' ' && *end != '\n') end++;
    *cursor = *end ? end + 1 : end;
    if (end - start == 1 && *start == '-') return out;
    if (end - start == 1 && *start == '=') {
        out.ptr = start;
        return out;
    }
    size_t n = (size_t)(end - start) / 2;
    for (size_t i = 0; i < n; i++) start[i] = (char)(nibble(start[2 * i]) * 16 + nibble(start[2 * i + 1]));
    out.ptr = start;
    out.len = n;
    return out;
}

static void print_id(PortcullisStr s) {
    if (s.ptr) printf(" %.*s", (int)s.len, s.ptr);
    else printf(" -");
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    FILE *file = fopen(argv[1], "rb");
    if (!file) return 2;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, file) != (size_t)size) return 2;
    text[size] = 0;
    fclose(file);

    char *cursor = text;
    PortcullisStr bundle = next_field(&cursor);
    PortcullisEngine *engine = NULL;
    PortcullisStatus status = portcullis_engine_from_json(bundle.ptr, bundle.len, &engine);
    if (status != PORTCULLIS_STATUS_OK) {
        char message[1024];
        portcullis_engine_error(engine, message, sizeof message);
        fprintf(stderr, "bundle: %s\n", message);
        return 1;
    }
    PortcullisSnapshot *snapshot = NULL;
    if (portcullis_engine_snapshot(engine, &snapshot) != PORTCULLIS_STATUS_OK) return 1;

    while (*cursor) {
        PortcullisEvent event = {0};
        event.computer = next_field(&cursor);
        event.user = next_field(&cursor);
        event.path = next_field(&cursor);
        PortcullisStr sha256 = next_field(&cursor);
        if (sha256.len != 32) return 3;
        memcpy(event.sha256, sha256.ptr, 32);
        PortcullisStr time = next_field(&cursor);
        char number[32] = {0};
        memcpy(number, time.ptr, time.len < 31 ? time.len : 31);
        event.time = strtoll(number, NULL, 10);
        event.parent = next_field(&cursor);
        event.created_by = next_field(&cursor);
        PortcullisStr elevation = next_field(&cursor);
        event.elevation = elevation.len == 1 && elevation.ptr[0] == '1';
        PortcullisStr signature = next_field(&cursor);
        event.signature_status = (uint32_t)(signature.ptr[0] - '0');
        event.signer_subject = next_field(&cursor);
        event.signer_issuer = next_field(&cursor);
        PortcullisStr thumbprint = next_field(&cursor);
        if (thumbprint.ptr && thumbprint.len == 32) {
            event.has_signer_thumbprint = true;
            memcpy(event.signer_thumbprint, thumbprint.ptr, 32);
        }

        PortcullisDecision d;
        status = portcullis_snapshot_decide(snapshot, &event, &d);
        if (status != PORTCULLIS_STATUS_OK) {
            char message[1024];
            portcullis_snapshot_error(snapshot, message, sizeof message);
            printf("error %s\n", message);
            continue;
        }
        printf("%s %u %d %d", d.outcome == PORTCULLIS_OUTCOME_ALLOW ? "allow" : "deny", d.flags,
               (int)d.mode, (int)d.request_kind);
        print_id(d.policy);
        print_id(d.application);
        printf(" %zu %" PRIu64 "\n", d.notify_count, d.generation);
    }
    portcullis_snapshot_free(snapshot);
    portcullis_engine_free(engine);
    free(text);
    return 0;
}
