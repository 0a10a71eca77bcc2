// The engine end to end on parsed packets: matching, one backend call per exchange, applying
// options, the failure policy, the breaker, the concurrency bound, malformed option 82, flush.
#include "engine.h"
#include "test_util.h"

#include <cc/data.h>
#include <stats/stats_mgr.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

using namespace isc::remote_options;
using isc::data::Element;
using isc::dhcp::Pkt4Ptr;
using test::bytes;
using test::concat;
using test::tlv;

namespace {

const char* INSTALL = R"({"66": "10.89.0.4", "224": "http://10.89.0.3:8080/v1/install/tok"})";

class EngineTest : public ::testing::Test {
protected:
    EngineTest() : now_(Clock::now()) {
        cfg_.url = "http://10.89.0.3:8080/v1/dhcp/options";
        cfg_.user_class = "malina";
        cfg_.machine_guid = "RPi4";
        cfg_.breaker_threshold = 3;
        cfg_.breaker_open_ms = 2000;
    }

    std::unique_ptr<Engine> make(test::FakeFetcher::Script script) {
        fetcher_.reset(new test::FakeFetcher(script));
        return (std::unique_ptr<Engine>(new Engine(cfg_, fetcher_, [this]() { return (now_); })));
    }

    static test::PacketSpec client(int port) {
        test::PacketSpec spec;
        spec.opt82 = concat({tlv(1, bytes("Gi1/0/" + std::to_string(port))), tlv(2, bytes("tor-a-01"))});
        spec.mac[5] = static_cast<uint8_t>(port);
        return (spec);
    }

    /// decide() on the query, apply() to a response of the given type, return the response.
    Pkt4Ptr exchange(Engine& engine, const test::PacketSpec& spec, uint8_t response_type) {
        Pkt4Ptr query = test::parsedQuery(spec);
        Pkt4Ptr resp = test::response(response_type);
        DecisionPtr d = engine.decide(*query);
        if (d) {
            Engine::apply(*d, *resp);
        }
        return (resp);
    }

    test::RuntimeDefs defs_;
    Config cfg_;
    Clock::time_point now_;
    std::shared_ptr<test::FakeFetcher> fetcher_;
};

TEST_F(EngineTest, DiscoverAndRequestCostOneBackendCall) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    test::PacketSpec spec = client(1);
    Pkt4Ptr offer = exchange(*engine, spec, isc::dhcp::DHCPOFFER);
    spec.type = isc::dhcp::DHCPREQUEST;
    Pkt4Ptr ack = exchange(*engine, spec, isc::dhcp::DHCPACK);
    EXPECT_EQ(1, fetcher_->calls.load());
    for (Pkt4Ptr resp : {offer, ack}) {
        EXPECT_EQ("10.89.0.4", test::optionText(*resp, 66));
        EXPECT_EQ("http://10.89.0.3:8080/v1/install/tok", test::optionText(*resp, 224));
    }
    ASSERT_EQ(1u, fetcher_->urls.size());
    EXPECT_EQ("http://10.89.0.3:8080/v1/dhcp/options?sub82_1=4769312f302f31&sub82_2=746f722d612d3031"
              "&mac=dca632000001&guid=0052506934113" "1c000000000016e87a417",
              fetcher_->urls[0]);
    EXPECT_EQ(1u, engine->counter(CACHE_HITS));
    EXPECT_EQ(1, engine->counters()->get("backend-calls")->intValue());
    // Published as Kea statistics too.
    engine->publish();
    auto stat = [](const char* name) {
        return (isc::stats::StatsMgr::instance().getObservation(name)->getInteger().first);
    };
    EXPECT_EQ(1, stat("remote-options.backend-calls"));
    EXPECT_EQ(1, stat("remote-options.backend-answers"));
    EXPECT_EQ(1, stat("remote-options.cache-hits"));
    EXPECT_EQ(0, stat("remote-options.failure-policy"));
}

TEST_F(EngineTest, IdentityParamsOff) {
    cfg_.identity_params = false;
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    test::PacketSpec spec = client(2);
    spec.opt82 = concat({tlv(1, bytes("c")), tlv(2, bytes("r")), tlv(9, Bytes{0, 0, 0x0d, 0xe9})});
    exchange(*engine, spec, isc::dhcp::DHCPOFFER);
    ASSERT_EQ(1u, fetcher_->urls.size());
    EXPECT_EQ("http://10.89.0.3:8080/v1/dhcp/options?sub82_1=63&sub82_2=72&sub82_9=00000de9",
              fetcher_->urls[0]);
}

TEST_F(EngineTest, ReplacesOptionsKeaAlreadySet) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    Pkt4Ptr query = test::parsedQuery(client(1));
    Pkt4Ptr offer = test::response(isc::dhcp::DHCPOFFER);
    offer->addOption(isc::dhcp::OptionPtr(new isc::dhcp::Option(isc::dhcp::Option::V4, 66, bytes("old"))));
    Engine::apply(*engine->decide(*query), *offer);
    EXPECT_EQ("10.89.0.4", test::optionText(*offer, 66));
    EXPECT_EQ(1u, offer->options_.count(66));
}

TEST_F(EngineTest, MatchingVariants) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    test::PacketSpec swapped = client(1);
    swapped.opt97 = test::piGuid("4iPR");
    EXPECT_TRUE(engine->matches(*test::parsedQuery(swapped)));

    test::PacketSpec by_user_class = client(1);
    by_user_class.with_97 = false;
    by_user_class.with_77 = true;
    by_user_class.opt77 = concat({Bytes{6}, bytes("malina")});
    EXPECT_TRUE(engine->matches(*test::parsedQuery(by_user_class)));

    test::PacketSpec other = client(1);
    other.opt97 = test::piGuid("RPi3");
    EXPECT_FALSE(engine->matches(*test::parsedQuery(other)));
    EXPECT_FALSE(engine->decide(*test::parsedQuery(other)));

    test::PacketSpec direct = client(1);
    direct.giaddr = "0.0.0.0";
    EXPECT_FALSE(engine->matches(*test::parsedQuery(direct)));

    test::PacketSpec release = client(1);
    release.type = isc::dhcp::DHCPRELEASE;
    EXPECT_FALSE(engine->matches(*test::parsedQuery(release)));
    EXPECT_EQ(0, fetcher_->calls.load());
}

TEST_F(EngineTest, UnsetMatchersMatchNothing) {
    cfg_.user_class.clear();
    cfg_.machine_guid.clear();
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    test::PacketSpec spec = client(1);
    spec.with_77 = true;
    spec.opt77 = bytes("malina");
    EXPECT_FALSE(engine->decide(*test::parsedQuery(spec)));
    EXPECT_EQ(0, fetcher_->calls.load());
}

TEST_F(EngineTest, BootLocalPolicyOnEveryFailureKind) {
    const std::vector<FetchResult> failures = {
        test::failure(FetchResult::Timeout), test::failure(FetchResult::Connect),
        test::failure(FetchResult::HttpStatus, 503), test::failure(FetchResult::HttpStatus, 302),
        test::failure(FetchResult::TooLarge), test::ok("garbage"), test::ok("[1,2]"),
        test::ok(R"({"300": "x"})"), test::ok(R"({"66": 5})")};
    cfg_.breaker_threshold = 1000;
    int port = 1;
    for (const FetchResult& f : failures) {
        auto engine = make([f](const std::string&) { return (f); });
        Pkt4Ptr query = test::parsedQuery(client(port));
        Pkt4Ptr offer = test::response(isc::dhcp::DHCPOFFER);
        offer->addOption(isc::dhcp::OptionPtr(new isc::dhcp::Option(isc::dhcp::Option::V4, 224, bytes("stale"))));
        DecisionPtr d = engine->decide(*query);
        ASSERT_TRUE(d);
        EXPECT_FALSE(d->from_backend);
        Engine::apply(*d, *offer);
        EXPECT_EQ("0.0.0.0", test::optionText(*offer, 66)) << f.kind << " " << f.body;
        EXPECT_EQ("(absent)", test::optionText(*offer, 224)) << f.kind << " " << f.body;
        // Negative cache: the REQUEST of the same exchange does not call again.
        engine->decide(*test::parsedQuery(client(port)));
        EXPECT_EQ(1, fetcher_->calls.load());
        ++port;
    }
}

TEST_F(EngineTest, PassThroughPolicyLeavesResponse) {
    cfg_.failure_policy = FailurePolicy::PassThrough;
    auto engine = make([](const std::string&) { return (test::failure(FetchResult::Timeout)); });
    Pkt4Ptr query = test::parsedQuery(client(1));
    Pkt4Ptr offer = test::response(isc::dhcp::DHCPOFFER);
    offer->addOption(isc::dhcp::OptionPtr(new isc::dhcp::Option(isc::dhcp::Option::V4, 66, bytes("kea"))));
    Engine::apply(*engine->decide(*query), *offer);
    EXPECT_EQ("kea", test::optionText(*offer, 66));
}

TEST_F(EngineTest, NotAllowedOptionSkippedRestApplied) {
    auto engine = make([](const std::string&) {
        return (test::ok(R"({"66": "10.89.0.4", "3": "10.0.0.1"})"));
    });
    Pkt4Ptr offer = exchange(*engine, client(1), isc::dhcp::DHCPOFFER);
    EXPECT_EQ("10.89.0.4", test::optionText(*offer, 66));
    EXPECT_EQ("(absent)", test::optionText(*offer, 3));
}

TEST_F(EngineTest, BreakerStopsCallsThenProbes) {
    auto engine = make([](const std::string&) { return (test::failure(FetchResult::Timeout)); });
    for (int port = 1; port <= 3; ++port) {
        engine->decide(*test::parsedQuery(client(port)));
    }
    EXPECT_EQ(3, fetcher_->calls.load());
    for (int port = 4; port <= 20; ++port) {
        DecisionPtr d = engine->decide(*test::parsedQuery(client(port)));
        ASSERT_TRUE(d);
        EXPECT_FALSE(d->from_backend);
    }
    EXPECT_EQ(3, fetcher_->calls.load());
    now_ += std::chrono::milliseconds(2000);
    engine->decide(*test::parsedQuery(client(21)));
    EXPECT_EQ(4, fetcher_->calls.load());   // one probe
}

TEST_F(EngineTest, ClientErrorsDoNotOpenBreaker) {
    auto engine = make([](const std::string&) { return (test::failure(FetchResult::HttpStatus, 404)); });
    for (int port = 1; port <= 10; ++port) {
        engine->decide(*test::parsedQuery(client(port)));
    }
    EXPECT_EQ(10, fetcher_->calls.load());
}

TEST_F(EngineTest, ConcurrencyBoundFailsFastWhileCallsInFlight) {
    cfg_.max_concurrent_requests = 1;
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, release = false;
    auto engine = make([&](const std::string&) {
        std::unique_lock<std::mutex> lock(m);
        entered = true;
        cv.notify_all();
        cv.wait(lock, [&] { return (release); });
        return (test::ok(INSTALL));
    });
    Pkt4Ptr first = test::parsedQuery(client(1));
    DecisionPtr first_decision;
    std::thread t([&] { first_decision = engine->decide(*first); });
    {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return (entered); });
    }
    DecisionPtr second = engine->decide(*test::parsedQuery(client(2)));
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->from_backend);
    EXPECT_EQ(1, fetcher_->calls.load());
    {
        std::lock_guard<std::mutex> lock(m);
        release = true;
    }
    cv.notify_all();
    t.join();
    ASSERT_TRUE(first_decision);
    EXPECT_TRUE(first_decision->from_backend);
}

TEST_F(EngineTest, OverloadedClientIsDroppedUncachedAndServedOnItsRetransmission) {
    cfg_.max_concurrent_requests = 1;
    cfg_.negative_cache_ttl_ms = 1000;
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, release = false;
    auto engine = make([&](const std::string& url) {
        if (url.find("sub82_1=4769312f302f31&") != std::string::npos) {   // client 1 blocks
            std::unique_lock<std::mutex> lock(m);
            entered = true;
            cv.notify_all();
            cv.wait(lock, [&] { return (release); });
        }
        return (test::ok(INSTALL));
    });
    std::thread t([&] { engine->decide(*test::parsedQuery(client(1))); });
    {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return (entered); });
    }
    test::PacketSpec two = client(2);
    DecisionPtr refused = engine->decide(*test::parsedQuery(two));   // the only slot is taken
    ASSERT_TRUE(refused);
    EXPECT_TRUE(refused->drop);              // no reply: not the failure policy, which means "boot local"
    EXPECT_TRUE(refused->set.empty());
    EXPECT_EQ(1u, engine->counter(OVERLOADED));
    EXPECT_EQ(0u, engine->counter(FAILURES));
    // The call in flight has been stuck for longer than the connect timeout: not a burst any more, a
    // stuck backend; the next overloaded client gets the failure policy at once.
    now_ += std::chrono::milliseconds(cfg_.connect_timeout_ms + 1);
    test::PacketSpec three = client(3);
    DecisionPtr stuck = engine->decide(*test::parsedQuery(three));
    ASSERT_TRUE(stuck);
    EXPECT_FALSE(stuck->drop);
    EXPECT_FALSE(stuck->from_backend);
    EXPECT_EQ(2u, engine->counter(OVERLOADED));
    EXPECT_EQ(1u, engine->counter(FAILURES));
    {
        std::lock_guard<std::mutex> lock(m);
        release = true;
    }
    cv.notify_all();
    t.join();
    // The retransmitted DISCOVER, at once (within the negative TTL: nothing was cached), reaches the backend.
    Pkt4Ptr offer = exchange(*engine, two, isc::dhcp::DHCPOFFER);
    EXPECT_EQ("10.89.0.4", test::optionText(*offer, 66));
    EXPECT_EQ(2, fetcher_->calls.load());
    // ... and its REQUEST agrees, from the cache.
    two.type = isc::dhcp::DHCPREQUEST;
    Pkt4Ptr ack = exchange(*engine, two, isc::dhcp::DHCPACK);
    EXPECT_EQ("10.89.0.4", test::optionText(*ack, 66));
    EXPECT_EQ(2, fetcher_->calls.load());
}

TEST_F(EngineTest, BreakerOpenDecisionIsCachedSoOfferAndAckAgree) {
    cfg_.breaker_threshold = 1;
    cfg_.breaker_open_ms = 500;
    cfg_.negative_cache_ttl_ms = 1000;
    std::atomic<int> n{0};
    auto engine = make([&n](const std::string&) {
        return (n++ == 0 ? test::failure(FetchResult::Timeout) : test::ok(INSTALL));
    });
    engine->decide(*test::parsedQuery(client(1)));   // fails: the breaker opens
    test::PacketSpec two = client(2);
    Pkt4Ptr offer = exchange(*engine, two, isc::dhcp::DHCPOFFER);
    EXPECT_EQ("0.0.0.0", test::optionText(*offer, 66));
    EXPECT_EQ(1u, engine->counter(BREAKER_OPEN));
    // The breaker is half-open by the time the REQUEST comes: no probe for this exchange, same answer.
    now_ += std::chrono::milliseconds(600);
    two.type = isc::dhcp::DHCPREQUEST;
    Pkt4Ptr ack = exchange(*engine, two, isc::dhcp::DHCPACK);
    EXPECT_EQ("0.0.0.0", test::optionText(*ack, 66));
    EXPECT_EQ(1, fetcher_->calls.load());
    // Another client is the probe, and gets the backend's answer.
    Pkt4Ptr three = exchange(*engine, client(3), isc::dhcp::DHCPOFFER);
    EXPECT_EQ("10.89.0.4", test::optionText(*three, 66));
    EXPECT_EQ(2, fetcher_->calls.load());
}

TEST_F(EngineTest, SingleThreadWarningOncePerEngine) {
    std::shared_ptr<Fetcher> f(new test::FakeFetcher([](const std::string&) { return (test::ok("{}")); }));
    unsigned pool = 4;
    Engine multi(cfg_, f, &Clock::now, [&pool]() { return (pool); });
    EXPECT_FALSE(multi.singleThreaded());
    EXPECT_FALSE(multi.warnIfSingleThreaded());
    for (unsigned single : {0u, 1u}) {
        pool = single;
        Engine engine(cfg_, f, &Clock::now, [&pool]() { return (pool); });
        EXPECT_TRUE(engine.singleThreaded()) << single;
        EXPECT_TRUE(engine.warnIfSingleThreaded()) << single;
        EXPECT_FALSE(engine.warnIfSingleThreaded()) << single;   // once per configuration
    }
    pool = 2;
    EXPECT_FALSE(multi.singleThreaded());
    Engine other(cfg_, f, &Clock::now, [&pool]() { return (pool); });
    EXPECT_FALSE(other.warnIfSingleThreaded(4));
    EXPECT_TRUE(other.warnIfSingleThreaded(1));   // the configuration's pool, not Kea's current one
}

TEST_F(EngineTest, ConfiguredThreadsFromMultiThreadingMap) {
    auto threads = [](const char* json) {
        return (Engine::configuredThreads(Element::fromJSON(json)));
    };
    EXPECT_EQ(0u, threads(R"({"enable-multi-threading": false, "thread-pool-size": 8})"));
    EXPECT_EQ(0u, threads("{}"));
    EXPECT_EQ(1u, threads(R"({"enable-multi-threading": true, "thread-pool-size": 1})"));
    EXPECT_EQ(12u, threads(R"({"enable-multi-threading": true, "thread-pool-size": 12})"));
    EXPECT_EQ(std::max(1u, std::thread::hardware_concurrency()),
              std::max(1u, threads(R"({"enable-multi-threading": true, "thread-pool-size": 0})")));
    EXPECT_EQ(0u, Engine::configuredThreads(isc::data::ConstElementPtr()));
}

TEST_F(EngineTest, EffectiveConcurrencyLeavesOnePacketThreadFree) {
    cfg_.max_concurrent_requests = 8;
    std::shared_ptr<Fetcher> f(new test::FakeFetcher([](const std::string&) { return (test::ok("{}")); }));
    unsigned pool = 0;
    Engine engine(cfg_, f, &Clock::now, [&pool]() { return (pool); });
    EXPECT_EQ(8u, engine.effectiveConcurrency());    // multi-threading off
    pool = 4;
    EXPECT_EQ(3u, engine.effectiveConcurrency());
    pool = 16;
    EXPECT_EQ(8u, engine.effectiveConcurrency());
    pool = 1;
    EXPECT_EQ(8u, engine.effectiveConcurrency());    // a single thread: nothing to reserve
}

TEST_F(EngineTest, CacheExpires) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    engine->decide(*test::parsedQuery(client(1)));
    now_ += std::chrono::milliseconds(cfg_.cache_ttl_ms - 1);
    engine->decide(*test::parsedQuery(client(1)));
    EXPECT_EQ(1, fetcher_->calls.load());
    now_ += std::chrono::milliseconds(1);
    engine->decide(*test::parsedQuery(client(1)));
    EXPECT_EQ(2, fetcher_->calls.load());
}

TEST_F(EngineTest, MalformedOption82NeverCallsBackend) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    std::vector<Bytes> bad = {
        Bytes{1, 10, 'a', 'b'},                               // truncated sub-option
        concat({tlv(1, Bytes()), tlv(2, Bytes())}),           // zero-length sub-options only
        concat({tlv(9, bytes("vendor"))}),                    // neither circuit-id nor remote-id
        Bytes(),                                              // empty option 82
    };
    for (const Bytes& opt82 : bad) {
        test::PacketSpec spec = client(1);
        spec.opt82 = opt82;
        Pkt4Ptr query;
        try {
            query = test::parsedQuery(spec);
        } catch (const std::exception&) {
            continue;   // Kea itself rejects the packet: never reaches the hook
        }
        DecisionPtr d = engine->decide(*query);
        ASSERT_TRUE(d) << test::toHexForTest(opt82);
        EXPECT_FALSE(d->from_backend);
    }
    test::PacketSpec missing = client(1);
    missing.with_82 = false;
    DecisionPtr d = engine->decide(*test::parsedQuery(missing));
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->from_backend);
    EXPECT_EQ(0, fetcher_->calls.load());
}

TEST_F(EngineTest, TrailingGarbageInOption82UsesWhatKeaParsed) {
    // Kea's unpack keeps the intact sub-options and drops a truncated tail; the hook asks for
    // exactly what Kea parsed, as a well-formed query.
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    test::PacketSpec spec = client(1);
    spec.opt82 = concat({tlv(1, bytes("a")), Bytes{2}});
    exchange(*engine, spec, isc::dhcp::DHCPOFFER);
    ASSERT_EQ(1u, fetcher_->urls.size());
    EXPECT_NE(std::string::npos, fetcher_->urls[0].find("?sub82_1=61&mac="));
}

TEST_F(EngineTest, HugeOption82) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    test::PacketSpec spec = client(1);
    spec.opt82 = concat({tlv(1, Bytes(200, 'x')), tlv(2, Bytes(51, 'y'))});   // 255 bytes in all
    Pkt4Ptr offer = exchange(*engine, spec, isc::dhcp::DHCPOFFER);
    EXPECT_EQ("10.89.0.4", test::optionText(*offer, 66));
    ASSERT_EQ(1u, fetcher_->urls.size());
    EXPECT_NE(std::string::npos, fetcher_->urls[0].find("sub82_1=" + toHex(Bytes(200, 'x')) + "&"));
}

TEST_F(EngineTest, ApplyIgnoresOtherResponseTypes) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    Pkt4Ptr nak = exchange(*engine, client(1), isc::dhcp::DHCPNAK);
    EXPECT_EQ("(absent)", test::optionText(*nak, 66));
}

TEST_F(EngineTest, FlushOneClientOrAll) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    for (int port = 1; port <= 3; ++port) {
        engine->decide(*test::parsedQuery(client(port)));
    }
    EXPECT_EQ(3u, engine->cache().size());
    EXPECT_EQ(1u, engine->flush(Element::fromJSON(
        R"({"sub82_1": "4769312F302F32", "sub82_2": "746f722d612d3031"})")));
    EXPECT_EQ(0u, engine->flush(Element::fromJSON(R"({"sub82_1": "00"})")));
    EXPECT_EQ(1u, engine->flush(Element::fromJSON(R"({"mac": "dc:a6:32:00:00:03"})")));
    engine->decide(*test::parsedQuery(client(2)));
    EXPECT_EQ(4, fetcher_->calls.load());   // flushed entry fetched again
    EXPECT_EQ(2u, engine->flush(Element::fromJSON("{}")));
    EXPECT_EQ(0u, engine->flush(isc::data::ConstElementPtr()));
}

TEST_F(EngineTest, FlushRejectsBadArguments) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    EXPECT_THROW(engine->flush(Element::fromJSON(R"({"circuit": "01"})")), ConfigError);
    EXPECT_THROW(engine->flush(Element::fromJSON(R"({"sub82_1": 1})")), ConfigError);
    EXPECT_THROW(engine->flush(Element::fromJSON(R"({"sub82_1": "xyz"})")), ConfigError);
    EXPECT_THROW(engine->flush(Element::fromJSON(R"({"sub82_1": "abc"})")), ConfigError);
    EXPECT_THROW(engine->flush(Element::fromJSON(R"(["all"])")), ConfigError);
}

}  // namespace
