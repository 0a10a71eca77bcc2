// The hook's logic, independent of the callout plumbing: decide per query, apply per response.
#ifndef REMOTE_OPTIONS_ENGINE_H
#define REMOTE_OPTIONS_ENGINE_H

#include "answer.h"
#include "cache.h"
#include "hook_config.h"
#include "decision.h"
#include "fetcher.h"
#include "guard.h"
#include "identity.h"
#include "ratelimit.h"

#include <cc/data.h>
#include <dhcp/pkt4.h>
#include <log/message_types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace isc {
namespace remote_options {

/// Counters. Exact values: Engine::counters() (the remote-options-stats command); also published as
/// Kea statistics "remote-options.<name>" at most once a second (statistic-get).
enum Counter {
    BACKEND_CALLS,    ///< backend-calls
    BACKEND_ANSWERS,  ///< backend-answers: valid answers applied
    CACHE_HITS,       ///< cache-hits
    FAILURES,         ///< failure-policy: decisions that applied the policy
    OVERLOADED,       ///< overloaded: refused by the concurrency bound
    BREAKER_OPEN,     ///< breaker-open: refused by the open breaker
    COUNTER_COUNT
};

/// Short names ("backend-calls", ...), in Counter order.
extern const char* const COUNTER_NAMES[COUNTER_COUNT];

/// Why a matching client gets no answer from the backend. What follows from each (log message, counter,
/// failure policy cached or not, or no reply) is one row of a table in engine.cc.
enum class Failure {
    BadOption82,   ///< no usable option 82: the backend is not asked
    Overloaded,    ///< no concurrency slot free
    BreakerOpen,   ///< refused by the open breaker (or a probe already in flight)
    Timeout,       ///< the call outlasted request-timeout-ms
    Connect,       ///< name resolution, connect or transfer failed
    HttpStatus,    ///< a status other than 200
    BodyTooLarge,  ///< more than max-body-bytes
    BadJson,       ///< not a JSON object of option codes
    BadValue,      ///< a value that cannot be encoded
    Count_
};

class Engine {
public:
    typedef std::function<Clock::time_point()> Now;
    /// Kea's packet thread pool size (0: multi-threading off).
    typedef std::function<unsigned()> PoolSize;

    Engine(const Config& cfg, std::shared_ptr<Fetcher> fetcher, Now now = &Clock::now,
           PoolSize pool_size = &keaThreadPoolSize);
    ~Engine();

    /// Kea's current packet thread pool size, 0 when multi-threading is off.
    static unsigned keaThreadPoolSize();

    /// The bound on concurrent backend calls now: max-concurrent-requests, capped at
    /// thread-pool-size - 1 so one packet thread always stays free for other clients.
    unsigned effectiveConcurrency() const;

    /// True when Kea serves packets on at most one thread (multi-threading off, or a pool of 1):
    /// then every backend call holds the whole server for up to request-timeout-ms.
    bool singleThreaded() const;

    /// Logs REMOTE_OPTIONS_SINGLE_THREADED when Kea serves packets on `pool` <= 1 threads, at most
    /// once per engine (one engine per configuration). Called from dhcp4_srv_configured with the
    /// new configuration's pool (configuredThreads); without an argument: Kea's current pool.
    /// Returns true when it logged.
    bool warnIfSingleThreaded(unsigned pool);
    bool warnIfSingleThreaded();

    /// Packet threads a "multi-threading" configuration map asks for: 0 when disabled (or absent),
    /// thread-pool-size, or the hardware concurrency for 0 (Kea's "auto").
    static unsigned configuredThreads(const isc::data::ConstElementPtr& mt);

    /// Null for queries the hook ignores (not DISCOVER/REQUEST/INFORM, not relayed, not
    /// matching). Otherwise the decision for the response. Never throws.
    DecisionPtr decide(isc::dhcp::Pkt4& query);

    /// The first half of a decision, for a matching query: the decision when one is reached without a
    /// backend call (bad option 82, cache hit, refused by the overload rule or the breaker), else the
    /// cache key and the admitted ticket for one call. decide() and the parked path (parker.cc) share it.
    struct Start {
        DecisionPtr decision;
        std::string key;
        BackendGuard::Ticket ticket;
        bool call() const { return (!decision && ticket.go()); }
    };
    /// parked: the call holds no packet thread, so the bound is max-concurrent-requests alone (not
    /// capped at thread-pool-size - 1). Throws on unexpected errors (decide() catches them).
    Start start(isc::dhcp::Pkt4& query, bool parked);
    /// The blocking call for an admitted start (decide()'s own, and the parked path's fallback where a
    /// packet cannot be parked): at most request-timeout-ms on the calling thread.
    DecisionPtr callNow(const Start& started, isc::dhcp::Pkt4& query);
    /// The URL of an admitted call; counts it (backend-calls).
    std::string callUrl(const std::string& key);
    /// The second half: the ticket handed back to the breaker, the result checked, the decision
    /// (cached as the policy says) returned. Never throws (an error gives the failure policy).
    DecisionPtr finish(const Start& started, isc::dhcp::Pkt4& query, const FetchResult& result);

    /// True when the query is a relayed DISCOVER/REQUEST/INFORM whose option 77 or 97 matches.
    bool matches(isc::dhcp::Pkt4& query) const;

    /// Builds the identity of a matching query; false (with the reason) for unusable option 82.
    bool identityOf(isc::dhcp::Pkt4& query, Identity& id, std::string& why) const;

    /// Applies a decision to a response (OFFER and ACK only).
    static void apply(const Decision& decision, isc::dhcp::Pkt4& response);

    /// Cache flush: args null or {} flushes all; {"sub82_1": hex, "sub82_2": hex, "sub82_9": hex,
    /// "mac": hex, "guid": hex} (any subset) flushes the entries matching all given fields.
    /// Throws ConfigError for malformed arguments. Returns the count removed.
    size_t flush(const isc::data::ConstElementPtr& args);

    /// Rate-limited report of an exception caught by a callout.
    void reportError(const std::string& where, const std::string& what);

    const Config& config() const { return (cfg_); }
    uint64_t counter(Counter c) const { return (counters_[c].load()); }
    /// All counters as a map {"backend-calls": n, ...}.
    isc::data::ElementPtr counters() const;
    /// Writes the counters to Kea's StatsMgr now.
    void publish();
    Cache& cache() { return (cache_); }
    DecisionPtr failureDecision() const { return (failure_); }

private:
    /// Arguments of a WARN message before its last one (the suppressed count).
    typedef std::vector<std::string> LogArgs;

    DecisionPtr fail();
    void bump(Counter c);
    /// Takes a concurrency slot (or the half-open probe) into `ticket` (limit 0: the configured
    /// maximum). Null when admitted; otherwise the refused client's decision.
    DecisionPtr admit(const std::string& key, BackendGuard::Ticket& ticket, unsigned limit);
    /// Hands an admitted ticket back to the breaker with a call's result and logs its transitions.
    void settle(const BackendGuard::Ticket& ticket, const FetchResult& result);
    /// Whether a transport result or a parsed answer is a failure, with its message's arguments.
    bool transportFailure(const FetchResult& result, Failure& failure, LogArgs& args) const;
    bool answerFailure(const ParsedAnswer& answer, Failure& failure, LogArgs& args) const;
    /// Logs, counts and decides a failure by its row in the table (engine.cc).
    DecisionPtr reportFailure(Failure failure, const std::string& key, const LogArgs& args);
    /// A valid answer: counted, cached for cache-ttl-ms, returned.
    DecisionPtr accept(const std::string& key, isc::dhcp::Pkt4& query, const std::vector<isc::dhcp::OptionPtr>& options);
    void logFailure(LogKind kind, const std::function<void(uint64_t)>& emit);
    /// A rate-limited WARN message: args, then the count suppressed since the last one of its kind.
    void warn(LogKind kind, const isc::log::MessageID& message, const LogArgs& args);

    Config cfg_;
    std::shared_ptr<Fetcher> fetcher_;
    Now now_;
    PoolSize pool_size_;
    Cache cache_;
    BackendGuard guard_;
    RateLimiter limiter_;
    DecisionPtr failure_;
    DecisionPtr drop_;   ///< overloaded: no reply (never cached)
    std::atomic<uint64_t> counters_[COUNTER_COUNT];
    std::atomic<int64_t> next_publish_;
    std::atomic<bool> threading_warned_;
};

}  // namespace remote_options
}  // namespace isc

#endif
