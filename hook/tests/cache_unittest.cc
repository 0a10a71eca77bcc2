// Cache TTL/flush/bounds, the backend guard (concurrency bound, circuit breaker), log rate limit.
#include "cache.h"
#include "guard.h"
#include "ratelimit.h"

#include <gtest/gtest.h>

using namespace isc::remote_options;
using std::chrono::milliseconds;

namespace {

DecisionPtr decision() {
    return (DecisionPtr(new Decision()));
}

TEST(CacheTest, HitUntilTtl) {
    Cache cache(100);
    Clock::time_point t0 = Clock::now();
    DecisionPtr d = decision();
    cache.put("k", d, 1000, t0);
    EXPECT_EQ(d, cache.get("k", t0 + milliseconds(999)));
    EXPECT_FALSE(cache.get("k", t0 + milliseconds(1000)));
    EXPECT_FALSE(cache.get("other", t0));
}

TEST(CacheTest, ReplaceAndZeroTtl) {
    Cache cache(100);
    Clock::time_point t0 = Clock::now();
    DecisionPtr a = decision(), b = decision();
    cache.put("k", a, 1000, t0);
    cache.put("k", b, 1000, t0);
    EXPECT_EQ(b, cache.get("k", t0));
    cache.put("z", a, 0, t0);
    EXPECT_FALSE(cache.get("z", t0));
    EXPECT_EQ(1u, cache.size());
}

TEST(CacheTest, FlushByPredicateAndAll) {
    Cache cache(100);
    Clock::time_point t0 = Clock::now();
    cache.put("sub82_1=01&sub82_2=aa", decision(), 1000, t0);
    cache.put("sub82_1=02&sub82_2=aa", decision(), 1000, t0);
    cache.put("sub82_1=03&sub82_2=bb", decision(), 1000, t0);
    EXPECT_EQ(1u, cache.flush([](const std::string& k) { return (k.find("=01&") != std::string::npos); }));
    EXPECT_FALSE(cache.get("sub82_1=01&sub82_2=aa", t0));
    EXPECT_TRUE(cache.get("sub82_1=02&sub82_2=aa", t0));
    EXPECT_EQ(2u, cache.flushAll());
    EXPECT_EQ(0u, cache.size());
}

TEST(CacheTest, BoundedSize) {
    Cache cache(16);   // one entry per shard
    Clock::time_point t0 = Clock::now();
    for (int i = 0; i < 1000; ++i) {
        cache.put("key" + std::to_string(i), decision(), 1000, t0);
    }
    EXPECT_LE(cache.size(), 16u);
    // Expired entries make room again.
    for (int i = 0; i < 1000; ++i) {
        cache.put("new" + std::to_string(i), decision(), 1000, t0 + milliseconds(2000));
    }
    EXPECT_LE(cache.size(), 16u);
    EXPECT_GT(cache.size(), 0u);
    size_t fresh = cache.flush([](const std::string& k) { return (k.rfind("new", 0) == 0); });
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_GT(fresh, 0u);
}

TEST(CacheTest, Disabled) {
    Cache cache(0);
    cache.put("k", decision(), 1000, Clock::now());
    EXPECT_FALSE(cache.get("k", Clock::now()));
}

TEST(GuardTest, ConcurrencyBound) {
    BackendGuard guard(2, 3, 1000);
    Clock::time_point t0 = Clock::now();
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0));
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0));
    EXPECT_EQ(BackendGuard::Admit::Overloaded, guard.admit(t0));
    EXPECT_EQ(2u, guard.inFlight());
    guard.release(true, t0);
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0));
}

TEST(GuardTest, PerCallLimitBelowMaximum) {
    BackendGuard guard(8, 3, 1000);
    Clock::time_point t0 = Clock::now();
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0, 1));
    EXPECT_EQ(BackendGuard::Admit::Overloaded, guard.admit(t0, 1));
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0, 100));   // never above the maximum
}

TEST(GuardTest, BreakerOpensProbesAndCloses) {
    BackendGuard guard(10, 3, 1000);
    Clock::time_point t0 = Clock::now();
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(BackendGuard::Admit::Go, guard.admit(t0));
        EXPECT_EQ(BackendGuard::Transition::None, guard.release(false, t0));
    }
    ASSERT_EQ(BackendGuard::Admit::Go, guard.admit(t0));
    EXPECT_EQ(BackendGuard::Transition::Opened, guard.release(false, t0));
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t0 + milliseconds(999)));
    // Half-open: one probe, the others still refused.
    Clock::time_point t1 = t0 + milliseconds(1000);
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t1));
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1));
    // Probe fails: open for another period.
    EXPECT_EQ(BackendGuard::Transition::None, guard.release(false, t1));
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1 + milliseconds(500)));
    Clock::time_point t2 = t1 + milliseconds(1000);
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t2));
    EXPECT_EQ(BackendGuard::Transition::Closed, guard.release(true, t2));
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t2));
    EXPECT_EQ(0u, guard.consecutiveFailures());
}

TEST(GuardTest, SuccessResetsFailureCount) {
    BackendGuard guard(10, 2, 1000);
    Clock::time_point t0 = Clock::now();
    guard.admit(t0);
    guard.release(false, t0);
    guard.admit(t0);
    guard.release(true, t0);
    guard.admit(t0);
    EXPECT_EQ(BackendGuard::Transition::None, guard.release(false, t0));
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0));
}

TEST(RateLimiterTest, OnePerIntervalWithCount) {
    RateLimiter limiter(10000);
    Clock::time_point t0 = Clock::now();
    uint64_t suppressed = 99;
    EXPECT_TRUE(limiter.allow(LogKind::Timeout, t0, suppressed));
    EXPECT_EQ(0u, suppressed);
    EXPECT_FALSE(limiter.allow(LogKind::Timeout, t0 + milliseconds(1), suppressed));
    EXPECT_FALSE(limiter.allow(LogKind::Timeout, t0 + milliseconds(2), suppressed));
    EXPECT_TRUE(limiter.allow(LogKind::BadJson, t0, suppressed));   // kinds are independent
    EXPECT_TRUE(limiter.allow(LogKind::Timeout, t0 + milliseconds(10000), suppressed));
    EXPECT_EQ(2u, suppressed);
}

}  // namespace
