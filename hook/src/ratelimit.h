// Rate limit for log messages: at most one message per kind per interval, counting the rest.
#ifndef REMOTE_OPTIONS_RATELIMIT_H
#define REMOTE_OPTIONS_RATELIMIT_H

#include "decision.h"

#include <cstdint>
#include <mutex>

namespace isc {
namespace remote_options {

enum class LogKind : unsigned {
    Timeout, Connect, HttpStatus, BodyTooLarge, BadJson, NotAllowed, BadValue, BadOption82,
    Overloaded, CalloutError, Count_
};

class RateLimiter {
public:
    explicit RateLimiter(long interval_ms);

    /// True when a message of this kind may be logged now; suppressed is then set to the number
    /// of messages of this kind dropped since the last one logged.
    bool allow(LogKind kind, Clock::time_point now, uint64_t& suppressed);

private:
    struct Slot {
        bool used = false;
        Clock::time_point last;
        uint64_t suppressed = 0;
    };
    const Clock::duration interval_;
    std::mutex mutex_;
    Slot slots_[static_cast<unsigned>(LogKind::Count_)];
};

}  // namespace remote_options
}  // namespace isc

#endif
