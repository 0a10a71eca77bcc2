// Backend guard: a bound on concurrent calls (try-acquire, never waits) and a circuit breaker.
#ifndef REMOTE_OPTIONS_GUARD_H
#define REMOTE_OPTIONS_GUARD_H

#include "decision.h"

#include <atomic>
#include <cstdint>
#include <mutex>

namespace isc {
namespace remote_options {

class BackendGuard {
public:
    enum class Admit {
        Go,          ///< call the backend, then call release()
        Overloaded,  ///< max concurrent calls in flight
        Open,        ///< breaker open (or a probe already in flight)
    };
    /// What release() changed, so the caller can log it.
    enum class Transition { None, Opened, Closed };
    /// admit()'s answer. A Go ticket must be handed back to release(); `probe` marks the one call let
    /// through a half-open breaker (only its release ends the probe, so a second probe never starts
    /// while it is in flight).
    struct Ticket {
        Admit admit = Admit::Open;
        bool probe = false;
        bool go() const { return (admit == Admit::Go); }
    };

    BackendGuard(unsigned max_concurrent, unsigned threshold, long open_ms);

    /// limit: the effective bound for this call (0: the configured maximum).
    Ticket admit(Clock::time_point now, unsigned limit = 0);

    /// ticket: what admit() gave (Go). transport_ok: the backend answered (any body, status < 500).
    /// A failed probe opens another period; a failure of a call admitted before the breaker opened
    /// does not extend it. Any success closes the breaker. Returns a breaker transition.
    Transition release(const Ticket& ticket, bool transport_ok, Clock::time_point now);

    unsigned inFlight() const { return (in_flight_.load()); }

    /// Whether the backend made progress within `window` before `now`: a call completed (either way),
    /// or the first of the calls in flight started, no longer ago than that. An overloaded guard whose
    /// calls are moving is a burst; one whose calls all sit there is a slow or hung backend.
    bool movingWithin(Clock::time_point now, std::chrono::milliseconds window) const;
    unsigned consecutiveFailures();

private:
    const unsigned max_;
    const unsigned threshold_;
    const long open_ms_;
    std::atomic<unsigned> in_flight_;
    // admit() never locks: the breaker state it reads is atomic; release() (after a real call) locks.
    std::atomic<bool> open_;
    std::atomic<int64_t> open_until_;    ///< Clock ticks since its epoch
    std::atomic<bool> probing_;
    std::atomic<int64_t> progress_;      ///< ticks of the last completion, or of a start from idle
    std::mutex mutex_;
    unsigned failures_;
};

}  // namespace remote_options
}  // namespace isc

#endif
