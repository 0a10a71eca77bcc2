#include "engine.h"

#include "answer.h"
#include "log.h"

#include <dhcp/dhcp4.h>
#include <dhcp/hwaddr.h>
#include <stats/stats_mgr.h>
#include <util/multi_threading_mgr.h>

#include <algorithm>
#include <cctype>
#include <thread>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::dhcp::OptionPtr;
using isc::dhcp::Pkt4;

namespace isc {
namespace remote_options {

namespace {

/// The query's option `code` as Kea holds it. Pkt::getOption returns a deep copy while Kea has option
/// copying on, which it has around every callout that gets the query (so a callout that changes an option
/// changes its own copy); this hook only reads options, and the copies (option 82 with its sub-options,
/// twice per exchange) were a cost every matching client paid.
OptionPtr heldOption(const Pkt4& q, uint16_t code) {
    auto it = q.options_.find(code);
    return (it == q.options_.end() ? OptionPtr() : it->second);
}

std::string clientOf(Pkt4& q) {
    isc::dhcp::HWAddrPtr hw = q.getHWAddr();
    return (hw ? hw->toText(false) : std::string("(no chaddr)"));
}

/// Lower-case hex with ':' and '-' separators removed; empty on invalid input.
std::string normalizeHex(const std::string& in) {
    std::string out;
    for (char c : in) {
        if (c == ':' || c == '-') {
            continue;
        }
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return (std::string());
        }
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return (out.size() % 2 == 0 ? out : std::string());
}

/// Value of name in a "a=1&b=2" query, or empty.
std::string queryField(const std::string& query, const std::string& name) {
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t end = query.find('&', pos);
        if (end == std::string::npos) {
            end = query.size();
        }
        size_t eq = query.find('=', pos);
        if (eq != std::string::npos && eq < end && query.compare(pos, eq - pos, name) == 0
            && eq - pos == name.size()) {
            return (query.substr(eq + 1, end - eq - 1));
        }
        pos = end + 1;
    }
    return (std::string());
}

}  // namespace

const char* const COUNTER_NAMES[COUNTER_COUNT] = {
    "backend-calls", "backend-answers", "cache-hits", "failure-policy", "overloaded", "breaker-open",
};

namespace {

/// What a failure decides for the client.
enum class Outcome {
    /// The failure policy, uncached: there is no identity to cache it under.
    Policy,
    /// The failure policy, cached for negative-cache-ttl-ms, refusals included: the REQUEST of an
    /// exchange whose DISCOVER failed gets the same answer (the OFFER and the ACK agree) instead of a
    /// second try that might reach the backend.
    CachedPolicy,
    /// No reply, uncached, while the backend's calls are moving (one completed, or started from idle,
    /// within connect-timeout-ms): a burst, so the client retransmits (DHCP's own back-pressure) with
    /// a fresh chance instead of being told to boot local. With every call stuck: CachedPolicy.
    DropWhileMoving,
};

struct FailureRule {
    Failure failure;                        ///< the row's kind (rows are in Failure order)
    LogKind log;                            ///< rate-limit slot of its message
    const isc::log::MessageID* message;     ///< WARN message (args, then the suppressed count); null: none
    Counter counter;                        ///< counted besides failure-policy; COUNTER_COUNT: none
    Outcome outcome;
};

constexpr FailureRule FAILURE_RULES[] = {
    {Failure::BadOption82, LogKind::BadOption82, &REMOTE_OPTIONS_BAD_OPTION82, COUNTER_COUNT, Outcome::Policy},
    {Failure::Overloaded, LogKind::Overloaded, &REMOTE_OPTIONS_OVERLOADED, OVERLOADED, Outcome::DropWhileMoving},
    // The opening was logged once (REMOTE_OPTIONS_CIRCUIT_OPEN); a refusal logs nothing.
    {Failure::BreakerOpen, LogKind::Count_, nullptr, BREAKER_OPEN, Outcome::CachedPolicy},
    {Failure::Timeout, LogKind::Timeout, &REMOTE_OPTIONS_BACKEND_TIMEOUT, COUNTER_COUNT, Outcome::CachedPolicy},
    {Failure::Connect, LogKind::Connect, &REMOTE_OPTIONS_BACKEND_CONNECT_ERROR, COUNTER_COUNT, Outcome::CachedPolicy},
    {Failure::HttpStatus, LogKind::HttpStatus, &REMOTE_OPTIONS_BACKEND_HTTP_STATUS, COUNTER_COUNT, Outcome::CachedPolicy},
    {Failure::BodyTooLarge, LogKind::BodyTooLarge, &REMOTE_OPTIONS_BACKEND_BODY_TOO_LARGE, COUNTER_COUNT,
     Outcome::CachedPolicy},
    {Failure::BadJson, LogKind::BadJson, &REMOTE_OPTIONS_BACKEND_BAD_JSON, COUNTER_COUNT, Outcome::CachedPolicy},
    {Failure::BadValue, LogKind::BadValue, &REMOTE_OPTIONS_OPTION_BAD_VALUE, COUNTER_COUNT, Outcome::CachedPolicy},
};

constexpr bool rulesInFailureOrder() {
    size_t count = sizeof(FAILURE_RULES) / sizeof(FAILURE_RULES[0]);
    if (count != static_cast<size_t>(Failure::Count_)) {
        return (false);
    }
    for (size_t i = 0; i < count; ++i) {
        if (static_cast<size_t>(FAILURE_RULES[i].failure) != i) {
            return (false);
        }
    }
    return (true);
}
static_assert(rulesInFailureOrder(), "FAILURE_RULES needs one row per Failure, in Failure order");

std::string statName(int c) {
    return (std::string("remote-options.") + COUNTER_NAMES[c]);
}

int64_t ticks(Clock::time_point t) {
    return (static_cast<int64_t>(t.time_since_epoch().count()));
}

}  // namespace

void Engine::bump(Counter c) {
    ++counters_[c];
    // Publish to StatsMgr (a global lock) at most once a second, from whichever thread gets there.
    const int64_t now = ticks(now_());
    int64_t next = next_publish_.load(std::memory_order_relaxed);
    if (now >= next && next_publish_.compare_exchange_strong(
            next, now + ticks(Clock::time_point(std::chrono::seconds(1))))) {
        publish();
    }
}

void Engine::publish() {
    for (int c = 0; c < COUNTER_COUNT; ++c) {
        isc::stats::StatsMgr::instance().setValue(statName(c), static_cast<int64_t>(counters_[c].load()));
    }
}

isc::data::ElementPtr Engine::counters() const {
    isc::data::ElementPtr out = Element::createMap();
    for (int c = 0; c < COUNTER_COUNT; ++c) {
        out->set(COUNTER_NAMES[c], Element::create(static_cast<int64_t>(counters_[c].load())));
    }
    return (out);
}

Engine::~Engine() {
    for (int c = 0; c < COUNTER_COUNT; ++c) {
        isc::stats::StatsMgr::instance().del(statName(c));
    }
}

unsigned Engine::keaThreadPoolSize() {
    isc::util::MultiThreadingMgr& mt = isc::util::MultiThreadingMgr::instance();
    return (mt.getMode() ? mt.getThreadPoolSize() : 0);
}

unsigned Engine::effectiveConcurrency() const {
    unsigned pool = pool_size_ ? pool_size_() : 0;
    unsigned bound = cfg_.max_concurrent_requests;
    if (pool > 1 && bound > pool - 1) {
        bound = pool - 1;
    }
    return (bound);
}

Engine::Engine(const Config& cfg, std::shared_ptr<Fetcher> fetcher, Now now, PoolSize pool_size)
    : cfg_(cfg), fetcher_(fetcher), now_(now), pool_size_(pool_size), cache_(cfg.max_cache_entries),
      guard_(cfg.max_concurrent_requests, cfg.breaker_threshold, cfg.breaker_open_ms),
      limiter_(cfg.log_interval_ms), next_publish_(0), threading_warned_(false) {
    for (auto& c : counters_) {
        c.store(0);
    }
    std::shared_ptr<Decision> failure(new Decision());
    if (cfg_.failure_policy == FailurePolicy::BootLocal) {
        failure->remove.assign(cfg_.allowed_options.begin(), cfg_.allowed_options.end());
        failure->set.push_back(encodeOption(isc::dhcp::DHO_TFTP_SERVER_NAME, "0.0.0.0"));
    }
    failure_ = failure;
    std::shared_ptr<Decision> drop(new Decision());
    drop->drop = true;
    drop_ = drop;
    publish();
}

bool Engine::singleThreaded() const {
    return ((pool_size_ ? pool_size_() : 0) <= 1);
}

unsigned Engine::configuredThreads(const ConstElementPtr& mt) {
    if (!mt || mt->getType() != Element::map) {
        return (0);
    }
    ConstElementPtr enabled = mt->get("enable-multi-threading");
    if (!enabled || enabled->getType() != Element::boolean || !enabled->boolValue()) {
        return (0);
    }
    ConstElementPtr size = mt->get("thread-pool-size");
    int64_t n = (size && size->getType() == Element::integer) ? size->intValue() : 0;
    if (n <= 0) {
        n = std::thread::hardware_concurrency();   // Kea's own choice for 0 (auto)
    }
    return (static_cast<unsigned>(n));
}

bool Engine::warnIfSingleThreaded() {
    return (warnIfSingleThreaded(pool_size_ ? pool_size_() : 0));
}

bool Engine::warnIfSingleThreaded(unsigned pool) {
    if (pool > 1 || threading_warned_.exchange(true)) {
        return (false);
    }
    LOG_WARN(remote_options_logger, REMOTE_OPTIONS_SINGLE_THREADED)
        .arg(pool == 0 ? std::string("off") : std::string("on with 1 thread"))
        .arg(cfg_.request_timeout_ms).arg(cfg_.breaker_threshold).arg(cfg_.max_concurrent_requests + 1);
    return (true);
}

bool Engine::matches(Pkt4& query) const {
    uint8_t type = query.getType();
    if (type != isc::dhcp::DHCPDISCOVER && type != isc::dhcp::DHCPREQUEST
        && type != isc::dhcp::DHCPINFORM) {
        return (false);
    }
    if (!query.isRelayed()) {
        return (false);
    }
    if (!cfg_.user_class.empty()) {
        OptionPtr uc = heldOption(query, isc::dhcp::DHO_USER_CLASS);
        if (uc && containsBytes(optionPayload(uc), cfg_.user_class)) {
            return (true);
        }
    }
    if (!cfg_.machine_guid.empty()) {
        OptionPtr guid = heldOption(query, isc::dhcp::DHO_UUID_GUID);
        if (guid && guidMatches(optionPayload(guid), cfg_.machine_guid)) {
            return (true);
        }
    }
    return (false);
}

bool Engine::identityOf(Pkt4& query, Identity& id, std::string& why) const {
    OptionPtr rai = heldOption(query, isc::dhcp::DHO_DHCP_AGENT_OPTIONS);
    if (!rai) {
        why = "no option 82";
        return (false);
    }
    Bytes raw = optionPayload(rai);
    std::map<uint8_t, Bytes> subs;
    if (!parseSubOptions(raw.data(), raw.size(), subs)) {
        why = "truncated sub-option";
        return (false);
    }
    if (!identityFromSubOptions(subs, id, why)) {
        return (false);
    }
    if (cfg_.identity_params) {
        isc::dhcp::HWAddrPtr hw = query.getHWAddr();
        if (hw) {
            id.mac = toHex(hw->hwaddr_);
        }
        OptionPtr guid = heldOption(query, isc::dhcp::DHO_UUID_GUID);
        if (guid) {
            id.guid = toHex(optionPayload(guid));
        }
    }
    return (true);
}

void Engine::logFailure(LogKind kind, const std::function<void(uint64_t)>& emit) {
    uint64_t suppressed = 0;
    if (limiter_.allow(kind, now_(), suppressed)) {
        emit(suppressed);
    }
}

void Engine::warn(LogKind kind, const isc::log::MessageID& message, const LogArgs& args) {
    logFailure(kind, [&](uint64_t suppressed) {
        if (remote_options_logger.isWarnEnabled()) {
            isc::log::Logger::Formatter line = remote_options_logger.warn(message);
            for (const std::string& arg : args) {
                line.arg(arg);
            }
            line.arg(suppressed);
        }   // the line is written when its Formatter goes out of scope
    });
}

void Engine::reportError(const std::string& where, const std::string& what) {
    logFailure(LogKind::CalloutError, [&](uint64_t s) {
        LOG_ERROR(remote_options_logger, REMOTE_OPTIONS_CALLOUT_ERROR).arg(where).arg(what).arg(s);
    });
}

DecisionPtr Engine::fail() {
    bump(FAILURES);
    return (failure_);
}

DecisionPtr Engine::decide(Pkt4& query) {
    bool matched = false;
    try {
        if (!matches(query)) {
            return (DecisionPtr());
        }
        matched = true;
        Start started = start(query, false);
        if (!started.call()) {
            return (started.decision);
        }
        return (callNow(started, query));
    } catch (const std::exception& ex) {
        reportError("pkt4_send", ex.what());
        return (matched ? fail() : DecisionPtr());
    }
}

Engine::Start Engine::start(Pkt4& query, bool parked) {
    Start out;
    Identity id;
    std::string why;
    if (!identityOf(query, id, why)) {
        out.decision = reportFailure(Failure::BadOption82, std::string(),
                                     {clientOf(query), query.getGiaddr().toText(), why});
        return (out);
    }
    out.key = id.query();
    DecisionPtr hit = cache_.get(out.key, now_());
    if (hit) {
        bump(CACHE_HITS);
        LOG_DEBUG(remote_options_logger, isc::log::DBGLVL_TRACE_BASIC, REMOTE_OPTIONS_CACHE_HIT)
            .arg(clientOf(query)).arg(out.key);
        if (!hit->from_backend) {
            bump(FAILURES);
        }
        out.decision = hit;
        return (out);
    }
    out.decision = admit(out.key, out.ticket, parked ? 0 : effectiveConcurrency());
    return (out);
}

DecisionPtr Engine::callNow(const Start& started, Pkt4& query) {
    FetchResult result;
    try {
        result = fetcher_->get(callUrl(started.key));
    } catch (...) {
        result.kind = FetchResult::Connect;
        result.error = "fetcher raised an exception";
    }
    return (finish(started, query, result));
}

std::string Engine::callUrl(const std::string& key) {
    bump(BACKEND_CALLS);
    return (buildUrl(cfg_.url, key));
}

DecisionPtr Engine::finish(const Start& started, Pkt4& query, const FetchResult& result) {
    try {
        settle(started.ticket, result);
        Failure failure;
        LogArgs args;
        if (transportFailure(result, failure, args)) {
            return (reportFailure(failure, started.key, args));
        }
        ParsedAnswer answer = parseAnswer(result.body, cfg_.allowed_options);
        if (!answer.not_allowed.empty()) {
            warn(LogKind::NotAllowed, REMOTE_OPTIONS_OPTION_NOT_ALLOWED,
                 {cfg_.url, std::to_string(answer.not_allowed.front())});
        }
        if (answerFailure(answer, failure, args)) {
            return (reportFailure(failure, started.key, args));
        }
        return (accept(started.key, query, answer.options));
    } catch (const std::exception& ex) {
        reportError("backend answer", ex.what());
        return (fail());
    }
}

DecisionPtr Engine::admit(const std::string& key, BackendGuard::Ticket& ticket, unsigned limit) {
    ticket = guard_.admit(now_(), limit);
    switch (ticket.admit) {
    case BackendGuard::Admit::Go:
        break;
    case BackendGuard::Admit::Overloaded:
        return (reportFailure(Failure::Overloaded, key, {std::to_string(guard_.inFlight())}));
    case BackendGuard::Admit::Open:
        return (reportFailure(Failure::BreakerOpen, key, {}));
    }
    return (DecisionPtr());
}

void Engine::settle(const BackendGuard::Ticket& ticket, const FetchResult& result) {
    // Only the transport counts for the breaker: a backend that answers (any body, a status below 500)
    // is up, even when its answer is refused.
    bool transport_ok = (result.kind == FetchResult::Ok || result.kind == FetchResult::TooLarge
                         || (result.kind == FetchResult::HttpStatus && result.status > 0 && result.status < 500));
    BackendGuard::Transition t = guard_.release(ticket, transport_ok, now_());
    if (t == BackendGuard::Transition::Opened) {
        LOG_ERROR(remote_options_logger, REMOTE_OPTIONS_CIRCUIT_OPEN)
            .arg(cfg_.url).arg(cfg_.breaker_threshold).arg(cfg_.breaker_open_ms);
    } else if (t == BackendGuard::Transition::Closed) {
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_CIRCUIT_CLOSED).arg(cfg_.url);
    }
}

bool Engine::transportFailure(const FetchResult& result, Failure& failure, LogArgs& args) const {
    switch (result.kind) {
    case FetchResult::Ok:
        return (false);
    case FetchResult::Timeout:
        failure = Failure::Timeout;
        args = {cfg_.url, std::to_string(cfg_.request_timeout_ms)};
        break;
    case FetchResult::Connect:
        failure = Failure::Connect;
        args = {cfg_.url, result.error};
        break;
    case FetchResult::HttpStatus:
        failure = Failure::HttpStatus;
        args = {cfg_.url, std::to_string(result.status)};
        break;
    case FetchResult::TooLarge:
        failure = Failure::BodyTooLarge;
        args = {cfg_.url, std::to_string(cfg_.max_body_bytes)};
        break;
    }
    return (true);
}

bool Engine::answerFailure(const ParsedAnswer& answer, Failure& failure, LogArgs& args) const {
    switch (answer.error) {
    case AnswerError::None:
        return (false);
    case AnswerError::BadJson:
        failure = Failure::BadJson;
        args = {cfg_.url, answer.detail};
        break;
    case AnswerError::BadValue:
        failure = Failure::BadValue;
        args = {cfg_.url, std::to_string(answer.bad_code), answer.detail};
        break;
    }
    return (true);
}

DecisionPtr Engine::reportFailure(Failure failure, const std::string& key, const LogArgs& args) {
    const FailureRule& rule = FAILURE_RULES[static_cast<size_t>(failure)];
    if (rule.counter != COUNTER_COUNT) {
        bump(rule.counter);
    }
    if (rule.message) {
        warn(rule.log, *rule.message, args);
    }
    switch (rule.outcome) {
    case Outcome::Policy:
        return (fail());
    case Outcome::DropWhileMoving:
        if (guard_.movingWithin(now_(), std::chrono::milliseconds(cfg_.connect_timeout_ms))) {
            return (drop_);
        }
        break;   // every call stuck: a slow or hung backend, the failure policy (cached)
    case Outcome::CachedPolicy:
        break;
    }
    DecisionPtr d = fail();
    cache_.put(key, d, cfg_.negative_cache_ttl_ms, now_());
    return (d);
}

DecisionPtr Engine::accept(const std::string& key, Pkt4& query, const std::vector<OptionPtr>& options) {
    std::shared_ptr<Decision> d = std::make_shared<Decision>();
    d->from_backend = true;
    d->set = options;
    bump(BACKEND_ANSWERS);
    LOG_DEBUG(remote_options_logger, isc::log::DBGLVL_TRACE_BASIC, REMOTE_OPTIONS_FETCHED)
        .arg(clientOf(query)).arg(d->set.size()).arg(key);
    cache_.put(key, d, cfg_.cache_ttl_ms, now_());
    return (d);
}

void Engine::apply(const Decision& decision, Pkt4& response) {
    uint8_t type = response.getType();
    if (type != isc::dhcp::DHCPOFFER && type != isc::dhcp::DHCPACK) {
        return;
    }
    for (uint16_t code : decision.remove) {
        while (response.delOption(code)) {
        }
    }
    for (const OptionPtr& opt : decision.set) {
        while (response.delOption(opt->getType())) {
        }
        response.addOption(opt->clone());
    }
}

size_t Engine::flush(const ConstElementPtr& args) {
    if (!args || (args->getType() == Element::map && args->mapValue().empty())) {
        return (cache_.flushAll());
    }
    if (args->getType() != Element::map) {
        isc_throw(ConfigError, "arguments must be a map");
    }
    static const std::set<std::string> fields = {"sub82_1", "sub82_2", "sub82_9", "mac", "guid"};
    std::vector<std::pair<std::string, std::string>> want;
    for (const auto& item : args->mapValue()) {
        if (!fields.count(item.first)) {
            isc_throw(ConfigError, "unknown argument '" << item.first
                      << "' (expected sub82_1, sub82_2, sub82_9, mac, guid)");
        }
        if (!item.second || item.second->getType() != Element::string) {
            isc_throw(ConfigError, "argument '" << item.first << "' must be a hex string");
        }
        std::string hex = normalizeHex(item.second->stringValue());
        if (hex.empty()) {
            isc_throw(ConfigError, "argument '" << item.first << "' is not a non-empty hex string");
        }
        want.push_back(std::make_pair(item.first, hex));
    }
    return (cache_.flush([&want](const std::string& key) {
        for (const auto& w : want) {
            if (queryField(key, w.first) != w.second) {
                return (false);
            }
        }
        return (true);
    }));
}

}  // namespace remote_options
}  // namespace isc
