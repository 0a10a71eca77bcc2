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
        OptionPtr uc = query.getOption(isc::dhcp::DHO_USER_CLASS);
        if (uc && containsBytes(optionPayload(uc), cfg_.user_class)) {
            return (true);
        }
    }
    if (!cfg_.machine_guid.empty()) {
        OptionPtr guid = query.getOption(isc::dhcp::DHO_UUID_GUID);
        if (guid && guidMatches(optionPayload(guid), cfg_.machine_guid)) {
            return (true);
        }
    }
    return (false);
}

bool Engine::identityOf(Pkt4& query, Identity& id, std::string& why) const {
    OptionPtr rai = query.getOption(isc::dhcp::DHO_DHCP_AGENT_OPTIONS);
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
        OptionPtr guid = query.getOption(isc::dhcp::DHO_UUID_GUID);
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
        Identity id;
        std::string why;
        if (!identityOf(query, id, why)) {
            std::string client = clientOf(query);
            std::string relay = query.getGiaddr().toText();
            logFailure(LogKind::BadOption82, [&](uint64_t s) {
                LOG_WARN(remote_options_logger, REMOTE_OPTIONS_BAD_OPTION82)
                    .arg(client).arg(relay).arg(why).arg(s);
            });
            return (fail());
        }
        std::string key = id.query();
        DecisionPtr hit = cache_.get(key, now_());
        if (hit) {
            bump(CACHE_HITS);
            LOG_DEBUG(remote_options_logger, isc::log::DBGLVL_TRACE_BASIC, REMOTE_OPTIONS_CACHE_HIT)
                .arg(clientOf(query)).arg(key);
            if (!hit->from_backend) {
                bump(FAILURES);
            }
            return (hit);
        }
        return (fetch(key, query));
    } catch (const std::exception& ex) {
        reportError("pkt4_send", ex.what());
        return (matched ? fail() : DecisionPtr());
    }
}

DecisionPtr Engine::fetch(const std::string& key, Pkt4& query) {
    // Every failure is cached for negative-cache-ttl-ms, refusals included: the REQUEST of an
    // exchange whose DISCOVER was refused gets the same answer (the OFFER and the ACK agree)
    // instead of a second try that might reach the backend. An overloaded client while the backend's
    // calls are moving (one completed, or started from idle, within connect-timeout-ms) is a burst:
    // it is dropped, uncached, so it retransmits (DHCP's own back-pressure) with a fresh chance,
    // instead of being told to boot local. Overloaded with every call stuck: the failure policy.
    auto negative = [&]() {
        DecisionPtr d = fail();
        cache_.put(key, d, cfg_.negative_cache_ttl_ms, now_());
        return (d);
    };
    BackendGuard::Ticket ticket = guard_.admit(now_(), effectiveConcurrency());
    if (ticket.admit == BackendGuard::Admit::Overloaded) {
        bump(OVERLOADED);
        unsigned in_flight = guard_.inFlight();
        logFailure(LogKind::Overloaded, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_OVERLOADED).arg(in_flight).arg(s);
        });
        if (guard_.movingWithin(now_(), std::chrono::milliseconds(cfg_.connect_timeout_ms))) {
            return (drop_);
        }
        return (negative());
    }
    if (ticket.admit == BackendGuard::Admit::Open) {
        bump(BREAKER_OPEN);
        return (negative());   // the opening was logged once
    }
    bump(BACKEND_CALLS);
    FetchResult r;
    try {
        r = fetcher_->get(buildUrl(cfg_.url, key));
    } catch (...) {
        r.kind = FetchResult::Connect;
        r.error = "fetcher raised an exception";
    }
    bool transport_ok = (r.kind == FetchResult::Ok || r.kind == FetchResult::TooLarge
                         || (r.kind == FetchResult::HttpStatus && r.status > 0 && r.status < 500));
    BackendGuard::Transition t = guard_.release(ticket, transport_ok, now_());
    if (t == BackendGuard::Transition::Opened) {
        LOG_ERROR(remote_options_logger, REMOTE_OPTIONS_CIRCUIT_OPEN)
            .arg(cfg_.url).arg(cfg_.breaker_threshold).arg(cfg_.breaker_open_ms);
    } else if (t == BackendGuard::Transition::Closed) {
        LOG_INFO(remote_options_logger, REMOTE_OPTIONS_CIRCUIT_CLOSED).arg(cfg_.url);
    }
    switch (r.kind) {
    case FetchResult::Ok:
        break;
    case FetchResult::Timeout:
        logFailure(LogKind::Timeout, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_BACKEND_TIMEOUT)
                .arg(cfg_.url).arg(cfg_.request_timeout_ms).arg(s);
        });
        return (negative());
    case FetchResult::Connect:
        logFailure(LogKind::Connect, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_BACKEND_CONNECT_ERROR)
                .arg(cfg_.url).arg(r.error).arg(s);
        });
        return (negative());
    case FetchResult::HttpStatus:
        logFailure(LogKind::HttpStatus, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_BACKEND_HTTP_STATUS)
                .arg(cfg_.url).arg(r.status).arg(s);
        });
        return (negative());
    case FetchResult::TooLarge:
        logFailure(LogKind::BodyTooLarge, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_BACKEND_BODY_TOO_LARGE)
                .arg(cfg_.url).arg(cfg_.max_body_bytes).arg(s);
        });
        return (negative());
    }

    ParsedAnswer a = parseAnswer(r.body, cfg_.allowed_options);
    if (!a.not_allowed.empty()) {
        uint16_t code = a.not_allowed.front();
        logFailure(LogKind::NotAllowed, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_OPTION_NOT_ALLOWED)
                .arg(cfg_.url).arg(code).arg(s);
        });
    }
    if (a.error == AnswerError::BadJson) {
        logFailure(LogKind::BadJson, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_BACKEND_BAD_JSON)
                .arg(cfg_.url).arg(a.detail).arg(s);
        });
        return (negative());
    }
    if (a.error == AnswerError::BadValue) {
        logFailure(LogKind::BadValue, [&](uint64_t s) {
            LOG_WARN(remote_options_logger, REMOTE_OPTIONS_OPTION_BAD_VALUE)
                .arg(cfg_.url).arg(a.bad_code).arg(a.detail).arg(s);
        });
        return (negative());
    }
    std::shared_ptr<Decision> d(new Decision());
    d->from_backend = true;
    d->set = a.options;
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
