/*
 * An endpoint agent in C: loads a bundle, decides executions through the hot path
 * (an event of borrowed strings, the decision into a struct on the stack), explains
 * one, shows how errors read, and inspects a file.
 *
 *   agent BUNDLE.json [FILE]
 *
 * Build it with `ffi/build-example` (see the README).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "portcullis.h"

/* The 32 bytes of a SHA-256 written as 64 hexadecimal digits. */
static int hex_to_sha256(const char *hex, uint8_t out[32]) {
    for (int i = 0; i < 32; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) return -1;
        out[i] = (uint8_t)byte;
    }
    return 0;
}

static void print_decision(const char *what, const PortcullisDecision *d) {
    printf("%s: %s", what, d->outcome == PORTCULLIS_OUTCOME_ALLOW ? "allow" : "deny");
    if (d->policy.ptr) printf(" policy=%.*s", (int)d->policy.len, d->policy.ptr);
    if (d->application.ptr)
        printf(" application=%.*s", (int)d->application.len, d->application.ptr);
    if (d->flags & PORTCULLIS_FLAG_DEFAULT_DENY) printf(" default-deny");
    if (d->flags & PORTCULLIS_FLAG_ELEVATED) printf(" elevated");
    if (d->flags & PORTCULLIS_FLAG_CAN_REQUEST) printf(" can-request");
    printf(" generation=%" PRIu64 "\n", d->generation);
}

static void print_engine_error(const PortcullisEngine *engine, PortcullisStatus status) {
    char message[512];
    size_t line = 0, column = 0;
    portcullis_engine_error(engine, message, sizeof message);
    if (portcullis_engine_error_location(engine, &line, &column))
        printf("error (%s) at %zu:%zu: %s\n", portcullis_status_name(status), line, column,
               message);
    else
        printf("error (%s): %s\n", portcullis_status_name(status), message);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s BUNDLE.json [FILE]\n", argv[0]);
        return 2;
    }
    PortcullisEngine *engine = NULL;
    PortcullisStatus status = portcullis_engine_from_file(argv[1], &engine);
    if (status != PORTCULLIS_STATUS_OK) {
        print_engine_error(engine, status);
        portcullis_engine_free(engine);
        return 1;
    }
    PortcullisSnapshot *snapshot = NULL;
    if (portcullis_engine_snapshot(engine, &snapshot) != PORTCULLIS_STATUS_OK) return 1;

    /* The hot path: borrowed strings, the hash as bytes, the decision on the stack. */
    PortcullisEvent event = {0};
    event.computer = portcullis_str("lakeside-fd-01");
    event.user = portcullis_str("LAKESIDE\\amy");
    event.path = portcullis_str("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe");
    hex_to_sha256("1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014",
                  event.sha256);
    event.time = 1795338000; /* 2026-11-22T09:00:00Z */
    event.parent = portcullis_str("C:\\Windows\\explorer.exe");
    event.signature_status = PORTCULLIS_SIGNATURE_VALID;
    event.signer_subject =
        portcullis_str("CN=Google LLC, O=Google LLC, L=Mountain View, S=California, C=US");
    event.signer_issuer = portcullis_str(
        "CN=DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1, O=\"DigiCert, Inc.\", C=US");

    PortcullisDecision decision;
    if (portcullis_snapshot_decide(snapshot, &event, &decision) != PORTCULLIS_STATUS_OK) return 1;
    print_decision("chrome", &decision);

    event.path = portcullis_str("\\\\?\\C:\\WINDOWS\\system32\\WindowsPowerShell\\v1.0\\.\\PowerShell.exe");
    hex_to_sha256("9785001b0dcf755eddb8af294a373c0b87b2498660f724e76c4d53f9c217c7a3",
                  event.sha256);
    event.signer_subject = portcullis_str("CN=Microsoft Windows, O=Microsoft Corporation");
    event.signer_issuer = portcullis_str(NULL);
    if (portcullis_snapshot_decide(snapshot, &event, &decision) != PORTCULLIS_STATUS_OK) return 1;
    print_decision("powershell", &decision);

    event.path = portcullis_str("C:\\Users\\amy\\Downloads\\labelprint.exe");
    memset(event.sha256, 0xab, sizeof event.sha256);
    event.signature_status = PORTCULLIS_SIGNATURE_UNSIGNED;
    event.signer_subject = portcullis_str(NULL);
    if (portcullis_snapshot_decide(snapshot, &event, &decision) != PORTCULLIS_STATUS_OK) return 1;
    print_decision("labelprint", &decision);

    /* The same event as JSON, and its explanation. */
    const char *json =
        "{\"computer\": \"lakeside-fd-01\", \"user\": \"LAKESIDE\\\\amy\","
        " \"path\": \"C:\\\\Users\\\\amy\\\\Downloads\\\\labelprint.exe\","
        " \"sha256\": \"abababababababababababababababababababababababababababababababab\","
        " \"time\": \"2026-11-22T09:00:00Z\"}";
    if (portcullis_snapshot_decide_json(snapshot, json, strlen(json), &decision) !=
        PORTCULLIS_STATUS_OK)
        return 1;
    print_decision("labelprint (json)", &decision);
    char *explanation = NULL;
    size_t explanation_len = 0;
    if (portcullis_snapshot_explain_json(snapshot, json, strlen(json), &explanation,
                                         &explanation_len) != PORTCULLIS_STATUS_OK)
        return 1;
    printf("explanation: %zu bytes of JSON, starting %.24s\n", explanation_len, explanation);
    portcullis_string_free(explanation);

    /* A malformed event: the snapshot's error names the field, line and column. */
    const char *bad_event = "{\"computer\": \"lakeside-fd-01\",\n \"sha256\": 42}";
    status = portcullis_snapshot_decide_json(snapshot, bad_event, strlen(bad_event), &decision);
    char message[512];
    portcullis_snapshot_error(snapshot, message, sizeof message);
    printf("bad event (%s): %s\n", portcullis_status_name(status), message);

    /* A bundle that does not compile: nothing changes, the error says where. */
    const char *bad_bundle = "{\"format\": \"portcullis.bundle/v1\",\n"
                             " \"organizations\": [{\"id\": \"a\", \"name\": \"A\", \"parent\": \"nowhere\"}]}";
    status = portcullis_engine_deploy_json(engine, bad_bundle, strlen(bad_bundle), NULL);
    print_engine_error(engine, status);
    status = portcullis_engine_rollback(engine, NULL);
    print_engine_error(engine, status);
    uint64_t generation = 0;
    portcullis_engine_generation(engine, &generation);
    printf("generation: %" PRIu64 "\n", generation);

    /* Who a file is, as `portcullis inspect` prints it. */
    if (argc > 2) {
        char *identity = NULL;
        status = portcullis_inspect(argv[2], NULL, &identity, NULL);
        if (status != PORTCULLIS_STATUS_OK) {
            portcullis_last_error(message, sizeof message);
            printf("inspect (%s): %s\n", portcullis_status_name(status), message);
        } else {
            printf("inspect: %s\n", identity);
            portcullis_string_free(identity);
        }
    }

    portcullis_snapshot_free(snapshot);
    portcullis_engine_free(engine);
    return 0;
}
