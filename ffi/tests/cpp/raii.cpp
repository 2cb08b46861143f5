// The C++ wrappers (portcullis.hpp): handles free themselves, failures throw with the
// library's message and location, and decisions match the C ones. Run by
// tests/native.rs with the bundle's path as the only argument.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "portcullis.hpp"

static int checks = 0;
static int failures = 0;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        ++checks;                                                                          \
        if (!(cond)) {                                                                     \
            ++failures;                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                                  \
    } while (0)

static const std::uint8_t ZERO[32] = {0};

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    std::ifstream file(argv[1]);
    std::stringstream text;
    text << file.rdbuf();
    const std::string bundle = text.str();

    auto engine = portcullis::Engine::from_json(bundle);
    CHECK(engine.generation() == 1);
    auto snapshot = engine.snapshot();

    portcullis::Event notepad("lakeside-fd-01", "LAKESIDE\\amy",
                              "C:\\Windows\\System32\\notepad.exe", ZERO, 1795338060);
    notepad.with_signer(PORTCULLIS_SIGNATURE_VALID,
                        "CN=Microsoft Windows, O=Microsoft Corporation, L=Redmond, "
                        "S=Washington, C=US",
                        "CN=Microsoft Windows Production PCA 2011, O=Microsoft Corporation, C=US");
    static const std::uint8_t THUMBPRINT[32] = {1, 2, 3};
    notepad.with_thumbprint(THUMBPRINT);
    CHECK(notepad.has_signer_thumbprint && notepad.signer_thumbprint[2] == 3);
    PortcullisDecision d = snapshot.decide(notepad);
    CHECK(d.outcome == PORTCULLIS_OUTCOME_ALLOW);
    CHECK(portcullis::policy(d) == "permit-windows");
    CHECK(portcullis::application(d) == "windows-os");
    CHECK(d.generation == 1);

    portcullis::Event unknown("nobody", "x", "/bin/true", ZERO, 0);
    d = snapshot.decide(unknown);
    CHECK(d.outcome == PORTCULLIS_OUTCOME_DENY);
    CHECK((d.flags & PORTCULLIS_FLAG_UNKNOWN_COMPUTER) != 0);
    CHECK(portcullis::policy(d).empty());

    // Many threads on one snapshot give the same decision.
    std::vector<std::thread> threads;
    std::vector<int> allowed(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 1000; ++i) {
                allowed[t] += snapshot.decide(notepad).outcome == PORTCULLIS_OUTCOME_ALLOW;
            }
        });
    }
    for (auto &t : threads) t.join();
    for (int t = 0; t < 4; ++t) CHECK(allowed[t] == 1000);

    std::vector<PortcullisEvent> batch{notepad, unknown, notepad};
    std::vector<PortcullisDecision> out;
    snapshot.decide_batch(batch, out);
    CHECK(out.size() == 3);
    CHECK(out[0].outcome == PORTCULLIS_OUTCOME_ALLOW && out[1].outcome == PORTCULLIS_OUTCOME_DENY);
    CHECK(portcullis::policy(out[2]) == "permit-windows");

    // A bundle that does not compile throws with its line and column; nothing changes.
    try {
        engine.deploy("{\"format\": \"portcullis.bundle/v1\",\n \"organizations\": 7}");
        CHECK(false);
    } catch (const portcullis::Error &e) {
        CHECK(e.status() == PORTCULLIS_STATUS_INVALID_BUNDLE);
        CHECK(e.line() == 2);
        CHECK(e.column() > 0);
        CHECK(std::string(e.what()).find("organizations") != std::string::npos);
    }
    CHECK(engine.generation() == 1);
    try {
        auto broken = portcullis::Engine::from_json("{");
        CHECK(false);
    } catch (const portcullis::Error &e) {
        CHECK(e.status() == PORTCULLIS_STATUS_INVALID_BUNDLE);
        CHECK(e.line() == 1);
    }

    // Deploy, roll back; the old snapshot handle keeps its generation.
    CHECK(engine.deploy(bundle) == 2);
    CHECK(engine.rollback() == 3);
    CHECK(snapshot.generation() == 1);
    CHECK(engine.snapshot().decide(notepad).generation == 3);
    try {
        engine.rollback();
        engine.rollback();
        CHECK(false);
    } catch (const portcullis::Error &e) {
        CHECK(e.status() == PORTCULLIS_STATUS_NO_HISTORY);
    }

    // Events from JSON: a bad one names the field and position.
    try {
        snapshot.decide_json("{\"computer\": 1}");
        CHECK(false);
    } catch (const portcullis::Error &e) {
        CHECK(e.status() == PORTCULLIS_STATUS_INVALID_EVENT);
        CHECK(std::string(e.what()).find("`computer`") != std::string::npos);
        CHECK(e.line() == 1);
    }
    std::string explanation = snapshot.explain_json(
        "{\"computer\": \"lakeside-fd-01\", \"user\": \"u\", \"path\": \"C:\\\\x.exe\","
        " \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\","
        " \"time\": \"2026-11-22T09:00:00Z\"}");
    CHECK(explanation.find("\"policies\"") != std::string::npos);

    std::string identity = portcullis::inspect(argv[1]);
    CHECK(identity.find("\"sha256\"") != std::string::npos);
    try {
        portcullis::inspect("/nonexistent/file");
        CHECK(false);
    } catch (const portcullis::Error &e) {
        CHECK(e.status() == PORTCULLIS_STATUS_IO);
    }

    std::printf("raii: %d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
