// C++17 RAII wrappers over the C ABI of the Portcullis engine (portcullis.h).
//
// Handles free themselves, failures throw portcullis::Error (the library's message,
// status, and line and column when the error has them), and the hot path stays the
// C one: Snapshot::decide fills a PortcullisDecision and allocates nothing.
//
//   auto engine = portcullis::Engine::from_file("bundle.json");
//   auto snapshot = engine.snapshot();
//   portcullis::Event event{"pc-1", "ACME\\ann", "C:\\Windows\\notepad.exe", sha256, time};
//   PortcullisDecision d = snapshot.decide(event);
//   if (d.outcome == PORTCULLIS_OUTCOME_ALLOW) { ... portcullis::policy(d) ... }
#ifndef PORTCULLIS_HPP
#define PORTCULLIS_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "portcullis.h"

namespace portcullis {

/// A failed call: what the library said, the status, and where in the text.
class Error : public std::runtime_error {
public:
    Error(PortcullisStatus status, const std::string &message, std::size_t line,
          std::size_t column)
        : std::runtime_error(message), status_(status), line_(line), column_(column) {}

    PortcullisStatus status() const noexcept { return status_; }
    /// 1-based line in the bundle or event text; 0 when the error has none.
    std::size_t line() const noexcept { return line_; }
    /// 1-based column; 0 when the error has none.
    std::size_t column() const noexcept { return column_; }

private:
    PortcullisStatus status_;
    std::size_t line_;
    std::size_t column_;
};

namespace detail {

/// Reads a message with a snprintf-style function: length first, then the text.
template <typename Read> std::string message(Read read) {
    std::size_t n = read(nullptr, 0);
    std::string text(n, '\0');
    if (n > 0) {
        std::vector<char> buffer(n + 1);
        read(buffer.data(), buffer.size());
        text.assign(buffer.data(), n);
    }
    return text;
}

inline void check_last(PortcullisStatus status) {
    if (status == PORTCULLIS_STATUS_OK) return;
    std::size_t line = 0, column = 0;
    portcullis_last_error_location(&line, &column);
    throw Error(status,
                message([](char *b, std::size_t c) { return portcullis_last_error(b, c); }),
                line, column);
}

inline void check(PortcullisStatus status, const PortcullisEngine *engine) {
    if (status == PORTCULLIS_STATUS_OK) return;
    if (engine == nullptr || status == PORTCULLIS_STATUS_NULL_ARGUMENT ||
        status == PORTCULLIS_STATUS_POISONED) {
        check_last(status);
    }
    std::size_t line = 0, column = 0;
    portcullis_engine_error_location(engine, &line, &column);
    throw Error(status, message([engine](char *b, std::size_t c) {
                    return portcullis_engine_error(engine, b, c);
                }),
                line, column);
}

inline void check(PortcullisStatus status, const PortcullisSnapshot *snapshot) {
    if (status == PORTCULLIS_STATUS_OK) return;
    if (snapshot == nullptr || status == PORTCULLIS_STATUS_NULL_ARGUMENT ||
        status == PORTCULLIS_STATUS_POISONED) {
        check_last(status);
    }
    std::size_t line = 0, column = 0;
    portcullis_snapshot_error_location(snapshot, &line, &column);
    throw Error(status, message([snapshot](char *b, std::size_t c) {
                    return portcullis_snapshot_error(snapshot, b, c);
                }),
                line, column);
}

struct EngineFree {
    void operator()(PortcullisEngine *e) const noexcept { portcullis_engine_free(e); }
};
struct SnapshotFree {
    void operator()(PortcullisSnapshot *s) const noexcept { portcullis_snapshot_free(s); }
};
struct StringFree {
    void operator()(char *s) const noexcept { portcullis_string_free(s); }
};

/// Takes a string the library allocated and frees it.
inline std::string take(char *raw, std::size_t len) {
    std::unique_ptr<char, StringFree> owned(raw);
    return std::string(raw, len);
}

inline PortcullisStr str(std::string_view text) noexcept {
    PortcullisStr s;
    s.ptr = text.data();
    s.len = text.size();
    return s;
}

} // namespace detail

/// A decision's id as a string_view (empty when absent); valid while its snapshot lives.
inline std::string_view view(PortcullisStr s) noexcept {
    return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view();
}
inline std::string_view policy(const PortcullisDecision &d) noexcept { return view(d.policy); }
inline std::string_view application(const PortcullisDecision &d) noexcept {
    return view(d.application);
}

/// An event over borrowed strings: the strings must outlive the decide call.
struct Event : PortcullisEvent {
    Event(std::string_view computer_, std::string_view user_, std::string_view path_,
          const std::uint8_t (&sha256_)[32], std::int64_t time_) noexcept
        : PortcullisEvent{} {
        computer = detail::str(computer_);
        user = detail::str(user_);
        path = detail::str(path_);
        for (int i = 0; i < 32; ++i) sha256[i] = sha256_[i];
        time = time_;
        signature_status = PORTCULLIS_SIGNATURE_UNSIGNED;
    }

    Event &with_parent(std::string_view p) noexcept {
        parent = detail::str(p);
        return *this;
    }
    Event &with_created_by(std::string_view p) noexcept {
        created_by = detail::str(p);
        return *this;
    }
    Event &with_elevation(bool on = true) noexcept {
        elevation = on;
        return *this;
    }
    /// A signature: status `PORTCULLIS_SIGNATURE_*`, the leaf's subject and issuer
    /// (an empty issuer means unknown).
    Event &with_signer(std::uint32_t status, std::string_view subject,
                       std::string_view issuer = {}) noexcept {
        signature_status = status;
        signer_subject = detail::str(subject);
        signer_issuer = issuer.empty() ? PortcullisStr{nullptr, 0} : detail::str(issuer);
        return *this;
    }
    /// The signing certificate's SHA-256 thumbprint.
    Event &with_thumbprint(const std::uint8_t (&thumbprint)[32]) noexcept {
        has_signer_thumbprint = true;
        for (int i = 0; i < 32; ++i) signer_thumbprint[i] = thumbprint[i];
        return *this;
    }
};

/// One compiled snapshot: immutable, shared by any number of threads.
class Snapshot {
public:
    explicit Snapshot(PortcullisSnapshot *raw) noexcept : raw_(raw) {}

    /// Decides one event; allocates nothing on the common path.
    PortcullisDecision decide(const PortcullisEvent &event) const {
        PortcullisDecision out;
        detail::check(portcullis_snapshot_decide(raw_.get(), &event, &out), raw_.get());
        return out;
    }

    /// Decides `events` into `out` (resized to match).
    void decide_batch(const std::vector<PortcullisEvent> &events,
                      std::vector<PortcullisDecision> &out) const {
        out.resize(events.size());
        std::size_t decided = 0;
        detail::check(portcullis_snapshot_decide_batch(raw_.get(), events.data(),
                                                       events.size(), out.data(), &decided),
                      raw_.get());
    }

    /// Decides an event given as JSON text.
    PortcullisDecision decide_json(std::string_view json) const {
        PortcullisDecision out;
        detail::check(portcullis_snapshot_decide_json(raw_.get(), json.data(), json.size(), &out),
                      raw_.get());
        return out;
    }

    /// The explanation of an event given as JSON text, as JSON.
    std::string explain_json(std::string_view json) const {
        char *raw = nullptr;
        std::size_t len = 0;
        detail::check(portcullis_snapshot_explain_json(raw_.get(), json.data(), json.size(),
                                                       &raw, &len),
                      raw_.get());
        return detail::take(raw, len);
    }

    std::uint64_t generation() const {
        std::uint64_t g = 0;
        detail::check(portcullis_snapshot_generation(raw_.get(), &g), raw_.get());
        return g;
    }

    const PortcullisSnapshot *get() const noexcept { return raw_.get(); }

private:
    std::unique_ptr<PortcullisSnapshot, detail::SnapshotFree> raw_;
};

/// The engine: holds the current snapshot, deploys and rolls back.
class Engine {
public:
    static Engine from_json(std::string_view json) {
        PortcullisEngine *raw = nullptr;
        PortcullisStatus status = portcullis_engine_from_json(json.data(), json.size(), &raw);
        return Engine(status, raw);
    }

    static Engine from_file(const std::string &path) {
        PortcullisEngine *raw = nullptr;
        PortcullisStatus status = portcullis_engine_from_file(path.c_str(), &raw);
        return Engine(status, raw);
    }

    /// Deploys a whole bundle; returns the new generation. On error nothing changes.
    std::uint64_t deploy(std::string_view json) {
        std::uint64_t g = 0;
        detail::check(portcullis_engine_deploy_json(raw_.get(), json.data(), json.size(), &g),
                      raw_.get());
        return g;
    }

    /// Deploys the organizations in `json` (a bundle of only them) and removes `removed`.
    std::uint64_t deploy_change(std::string_view json,
                                const std::vector<std::string_view> &removed = {}) {
        std::vector<PortcullisStr> ids;
        for (auto id : removed) ids.push_back(detail::str(id));
        std::uint64_t g = 0;
        detail::check(portcullis_engine_deploy_change_json(raw_.get(), json.data(), json.size(),
                                                           ids.data(), ids.size(), &g),
                      raw_.get());
        return g;
    }

    /// Restores the previous snapshot; returns the new generation.
    std::uint64_t rollback() {
        std::uint64_t g = 0;
        detail::check(portcullis_engine_rollback(raw_.get(), &g), raw_.get());
        return g;
    }

    std::uint64_t generation() const {
        std::uint64_t g = 0;
        detail::check(portcullis_engine_generation(raw_.get(), &g), raw_.get());
        return g;
    }

    /// The current snapshot, kept alive (and unchanged) by the returned object.
    Snapshot snapshot() const {
        PortcullisSnapshot *raw = nullptr;
        detail::check(portcullis_engine_snapshot(raw_.get(), &raw), raw_.get());
        return Snapshot(raw);
    }

private:
    Engine(PortcullisStatus status, PortcullisEngine *raw) : raw_(raw) {
        // On failure the handle holds the error; it is freed by raw_ as the throw unwinds.
        detail::check(status, raw_.get());
    }

    std::unique_ptr<PortcullisEngine, detail::EngineFree> raw_;
};

/// The identity of a file as JSON, as `portcullis inspect` prints it.
inline std::string inspect(const std::string &path, const char *roots_pem = nullptr) {
    char *raw = nullptr;
    std::size_t len = 0;
    detail::check_last(portcullis_inspect(path.c_str(), roots_pem, &raw, &len));
    return detail::take(raw, len);
}

} // namespace portcullis

#endif // PORTCULLIS_HPP
