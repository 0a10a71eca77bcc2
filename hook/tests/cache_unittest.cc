// Cache TTL/flush/bounds, the backend guard (concurrency bound, circuit breaker), log rate limit.
#include "cache.h"
#include "guard.h"
#include "ratelimit.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

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

/// Keys that land in the same shard (the cache's own shard function: hash % 16).
std::vector<std::string> sameShardKeys(size_t n) {
    std::vector<std::string> out;
    const size_t want = std::hash<std::string>()("k0") % 16;
    for (int i = 0; out.size() < n; ++i) {
        std::string k = "k" + std::to_string(i);
        if (std::hash<std::string>()(k) % 16 == want) {
            out.push_back(k);
        }
    }
    return (out);
}

TEST(CacheTest, FullShardEvictsLeastRecentlyUsedNotTheNewEntry) {
    Cache cache(32);   // two entries per shard
    Clock::time_point t0 = Clock::now();
    std::vector<std::string> k = sameShardKeys(4);
    DecisionPtr a = decision(), b = decision(), c = decision(), d = decision();
    cache.put(k[0], a, 10000, t0);
    cache.put(k[1], b, 10000, t0);
    EXPECT_EQ(a, cache.get(k[0], t0));   // k[0] used: k[1] is now the least recently used
    cache.put(k[2], c, 10000, t0);       // full of live entries: evicts k[1], stores k[2]
    EXPECT_EQ(c, cache.get(k[2], t0));
    EXPECT_EQ(a, cache.get(k[0], t0));
    EXPECT_FALSE(cache.get(k[1], t0));
    cache.put(k[2], c, 10000, t0);       // replacing refreshes too: k[0] is the oldest now
    cache.put(k[3], d, 10000, t0);
    EXPECT_FALSE(cache.get(k[0], t0));
    EXPECT_EQ(c, cache.get(k[2], t0));
    EXPECT_EQ(d, cache.get(k[3], t0));
    EXPECT_EQ(2u, cache.size());
}

TEST(CacheTest, EveryNewEntryIsStoredWhenFull) {
    Cache cache(16);   // one entry per shard
    Clock::time_point t0 = Clock::now();
    for (int i = 0; i < 1000; ++i) {
        std::string key = "key" + std::to_string(i);
        DecisionPtr d = decision();
        cache.put(key, d, 60000, t0);
        ASSERT_EQ(d, cache.get(key, t0)) << key;
        ASSERT_LE(cache.size(), 16u);
    }
    // Flush keeps the recency list consistent with the map.
    const size_t before = cache.size();
    EXPECT_EQ(16u, before);
    EXPECT_EQ(before, cache.flush([](const std::string&) { return (true); }));
    cache.put("again", decision(), 60000, t0);
    EXPECT_EQ(1u, cache.size());
}

TEST(GuardTest, ConcurrencyBound) {
    BackendGuard guard(2, 3, 1000);
    Clock::time_point t0 = Clock::now();
    BackendGuard::Ticket first = guard.admit(t0);
    EXPECT_EQ(BackendGuard::Admit::Go, first.admit);
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0).admit);
    EXPECT_EQ(BackendGuard::Admit::Overloaded, guard.admit(t0).admit);
    EXPECT_EQ(2u, guard.inFlight());
    guard.release(first, true, t0);
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0).admit);
}

TEST(GuardTest, PerCallLimitBelowMaximum) {
    BackendGuard guard(8, 3, 1000);
    Clock::time_point t0 = Clock::now();
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0, 1).admit);
    EXPECT_EQ(BackendGuard::Admit::Overloaded, guard.admit(t0, 1).admit);
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0, 100).admit);   // never above the maximum
}

TEST(GuardTest, BreakerOpensProbesAndCloses) {
    BackendGuard guard(10, 3, 1000);
    Clock::time_point t0 = Clock::now();
    for (int i = 0; i < 2; ++i) {
        BackendGuard::Ticket t = guard.admit(t0);
        ASSERT_TRUE(t.go());
        EXPECT_FALSE(t.probe);
        EXPECT_EQ(BackendGuard::Transition::None, guard.release(t, false, t0));
    }
    BackendGuard::Ticket third = guard.admit(t0);
    ASSERT_TRUE(third.go());
    EXPECT_EQ(BackendGuard::Transition::Opened, guard.release(third, false, t0));
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t0 + milliseconds(999)).admit);
    // Half-open: one probe, the others still refused.
    Clock::time_point t1 = t0 + milliseconds(1000);
    BackendGuard::Ticket probe = guard.admit(t1);
    ASSERT_TRUE(probe.go());
    EXPECT_TRUE(probe.probe);
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1).admit);
    // Probe fails: open for another period.
    EXPECT_EQ(BackendGuard::Transition::None, guard.release(probe, false, t1));
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1 + milliseconds(500)).admit);
    Clock::time_point t2 = t1 + milliseconds(1000);
    BackendGuard::Ticket probe2 = guard.admit(t2);
    ASSERT_TRUE(probe2.go());
    EXPECT_EQ(BackendGuard::Transition::Closed, guard.release(probe2, true, t2));
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t2).admit);
    EXPECT_EQ(0u, guard.consecutiveFailures());
}

TEST(GuardTest, OnlyTheProbesReleaseEndsTheProbe) {
    BackendGuard guard(10, 1, 1000);
    Clock::time_point t0 = Clock::now();
    BackendGuard::Ticket early = guard.admit(t0);     // admitted while closed, still in flight
    ASSERT_TRUE(early.go());
    BackendGuard::Ticket opener = guard.admit(t0);
    ASSERT_EQ(BackendGuard::Transition::Opened, guard.release(opener, false, t0));
    Clock::time_point t1 = t0 + milliseconds(1000);
    BackendGuard::Ticket probe = guard.admit(t1);
    ASSERT_TRUE(probe.go());
    ASSERT_TRUE(probe.probe);
    // The early call fails while the probe is in flight: no second probe, no longer open period.
    EXPECT_EQ(BackendGuard::Transition::None, guard.release(early, false, t1));
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1).admit);
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1 + milliseconds(1)).admit);
    EXPECT_EQ(1u, guard.inFlight());   // only the probe is in flight
    // The probe fails: another period from now, then exactly one new probe.
    EXPECT_EQ(BackendGuard::Transition::None, guard.release(probe, false, t1));
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1 + milliseconds(999)).admit);
    BackendGuard::Ticket next = guard.admit(t1 + milliseconds(1000));
    EXPECT_TRUE(next.go() && next.probe);
    EXPECT_EQ(BackendGuard::Admit::Open, guard.admit(t1 + milliseconds(1000)).admit);
}

TEST(GuardTest, SuccessResetsFailureCount) {
    BackendGuard guard(10, 2, 1000);
    Clock::time_point t0 = Clock::now();
    guard.release(guard.admit(t0), false, t0);
    guard.release(guard.admit(t0), true, t0);
    EXPECT_EQ(BackendGuard::Transition::None, guard.release(guard.admit(t0), false, t0));
    EXPECT_EQ(BackendGuard::Admit::Go, guard.admit(t0).admit);
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
