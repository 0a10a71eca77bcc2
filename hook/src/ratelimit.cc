#include "ratelimit.h"

namespace isc {
namespace remote_options {

RateLimiter::RateLimiter(long interval_ms)
    : interval_(std::chrono::milliseconds(interval_ms)) {
}

bool RateLimiter::allow(LogKind kind, Clock::time_point now, uint64_t& suppressed) {
    std::lock_guard<std::mutex> lock(mutex_);
    Slot& slot = slots_[static_cast<unsigned>(kind)];
    if (slot.used && now - slot.last < interval_) {
        ++slot.suppressed;
        return (false);
    }
    suppressed = slot.suppressed;
    slot.used = true;
    slot.last = now;
    slot.suppressed = 0;
    return (true);
}

}  // namespace remote_options
}  // namespace isc
