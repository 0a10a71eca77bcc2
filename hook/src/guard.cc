#include "guard.h"

namespace isc {
namespace remote_options {

BackendGuard::BackendGuard(unsigned max_concurrent, unsigned threshold, long open_ms)
    : max_(max_concurrent), threshold_(threshold), open_ms_(open_ms), in_flight_(0), open_(false),
      open_until_(0), probing_(false), progress_(0), failures_(0) {
}

namespace {

int64_t ticks(Clock::time_point t) {
    return (static_cast<int64_t>(t.time_since_epoch().count()));
}

}  // namespace

BackendGuard::Ticket BackendGuard::admit(Clock::time_point now, unsigned limit) {
    const unsigned bound = (limit == 0 || limit > max_) ? max_ : limit;
    Ticket t;
    if (open_.load(std::memory_order_acquire)) {
        if (ticks(now) < open_until_.load(std::memory_order_acquire)) {
            t.admit = Admit::Open;
            return (t);
        }
        bool expected = false;
        if (!probing_.compare_exchange_strong(expected, true)) {
            t.admit = Admit::Open;   // half-open: another call is the probe
            return (t);
        }
        t.probe = true;
    }
    unsigned cur = in_flight_.load();
    do {
        if (cur >= bound) {
            if (t.probe) {
                probing_.store(false);
                t.probe = false;
            }
            t.admit = Admit::Overloaded;
            return (t);
        }
    } while (!in_flight_.compare_exchange_weak(cur, cur + 1));
    if (cur == 0) {
        progress_.store(ticks(now), std::memory_order_relaxed);   // a start from idle
    }
    t.admit = Admit::Go;
    return (t);
}

BackendGuard::Transition BackendGuard::release(const Ticket& ticket, bool transport_ok,
                                               Clock::time_point now) {
    in_flight_.fetch_sub(1);
    progress_.store(ticks(now), std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mutex_);
    if (ticket.probe) {
        probing_.store(false);   // only the probe's own release ends the half-open probe
    }
    if (transport_ok) {
        failures_ = 0;
        if (open_.load()) {
            open_.store(false, std::memory_order_release);
            return (Transition::Closed);
        }
        return (Transition::None);
    }
    ++failures_;
    const int64_t until = ticks(now + std::chrono::milliseconds(open_ms_));
    if (open_.load()) {
        if (ticket.probe) {
            open_until_.store(until, std::memory_order_release);   // a failed probe: another period
        }
        return (Transition::None);
    }
    if (failures_ >= threshold_ && open_ms_ > 0) {
        open_until_.store(until, std::memory_order_release);
        open_.store(true, std::memory_order_release);
        return (Transition::Opened);
    }
    return (Transition::None);
}

bool BackendGuard::movingWithin(Clock::time_point now, std::chrono::milliseconds window) const {
    return (ticks(now) - progress_.load(std::memory_order_relaxed) < ticks(Clock::time_point(window)));
}

unsigned BackendGuard::consecutiveFailures() {
    std::lock_guard<std::mutex> lock(mutex_);
    return (failures_);
}

}  // namespace remote_options
}  // namespace isc
