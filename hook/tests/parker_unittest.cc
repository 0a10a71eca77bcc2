// The parked path's bookkeeping with Kea's own parking lot and a fetcher the test completes by hand:
// a cache hit answers without parking, a completion unparks with the options, a timeout unparks with
// the failure policy (cached), the in-flight bound drops instead of parking, unload drops what is
// parked, and the callout + pkt4_send pair applies a decision exactly once.
#include "parked_callout.h"
#include "parker.h"
#include "pkt4_send.h"
#include "test_util.h"

#include <dhcpsrv/lease.h>
#include <hooks/callout_handle.h>
#include <hooks/callout_manager.h>
#include <hooks/server_hooks.h>
#include <util/multi_threading_mgr.h>
#include <gtest/gtest.h>

#include <boost/make_shared.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

using namespace isc::remote_options;
using isc::dhcp::Pkt4Ptr;
using isc::hooks::CalloutHandle;
using isc::hooks::ParkingLotHandle;
using isc::hooks::ParkingLotHandlePtr;
using isc::hooks::ParkingLotPtr;

namespace {

const char* INSTALL = R"({"66": "10.89.0.4", "224": "http://10.89.0.3:8080/v1/install/tok"})";

/// An AsyncGet whose calls wait until the test completes them.
class ManualHttp : public AsyncGet {
public:
    bool start(const std::string& url, Done done) override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopped_) {
                return (false);
            }
            urls.push_back(url);
            calls.push_back(done);
        }
        if (immediate) {
            done(*immediate);   // a completion that beats the callout's return (as a fast backend can)
        }
        return (true);
    }
    std::unique_ptr<FetchResult> immediate;
    void stop() override {
        std::lock_guard<std::mutex> lock(mutex_);
        stopped_ = true;
    }
    std::vector<std::string> urls;
    std::vector<Done> calls;

private:
    std::mutex mutex_;
    bool stopped_ = false;
};

class ParkerTest : public ::testing::Test {
protected:
    ParkerTest() : lot_(boost::make_shared<isc::hooks::ParkingLot>()),
                   handle_(boost::make_shared<ParkingLotHandle>(lot_)) {
        cfg_.url = "http://10.89.0.3:8080/v1/dhcp/options";
        cfg_.machine_guid = "RPi4";
        cfg_.max_concurrent_requests = 2;
        fetcher_ = std::make_shared<test::FakeFetcher>([](const std::string&) { return (test::ok(INSTALL)); });
        // A pool of 2 threads caps the blocking path at 1 call; the parked path holds no thread.
        engine_ = std::make_unique<Engine>(cfg_, fetcher_, &Clock::now, []() { return (2u); });
        http_ = std::make_shared<ManualHttp>();
        parker_ = std::make_unique<Parker>(*engine_, http_);
    }

    static test::PacketSpec client(int port) {
        test::PacketSpec spec;
        spec.opt82 = test::concat({test::tlv(1, test::bytes("Gi1/0/" + std::to_string(port))),
                                   test::tlv(2, test::bytes("tor-a-01"))});
        spec.mac[5] = static_cast<uint8_t>(port);
        return (spec);
    }

    /// A query parked as Kea parks it before calling the callouts; its "send" counts in sent_.
    Pkt4Ptr parkedQuery(int port) {
        Pkt4Ptr q = test::parsedQuery(client(port));
        lot_->park(q, [this]() { ++sent_; });
        return (q);
    }

    /// One packet parked, the parker paused, then its call completed.
    ParkedSlotPtr parkThenCompleteWhilePaused() {
        auto slot = std::make_shared<ParkedSlot>();
        EXPECT_EQ(Parker::Step::Park, parker_->begin(parkedQuery(1), handle_, slot));
        parker_->pause();
        http_->calls.at(0)(test::ok(INSTALL));
        return (slot);
    }

    test::RuntimeDefs defs_;
    Config cfg_;
    std::shared_ptr<test::FakeFetcher> fetcher_;
    std::unique_ptr<Engine> engine_;
    std::shared_ptr<ManualHttp> http_;
    std::unique_ptr<Parker> parker_;
    ParkingLotPtr lot_;
    ParkingLotHandlePtr handle_;
    int sent_ = 0;
};

TEST_F(ParkerTest, CompletionUnparksWithTheBackendsOptions) {
    Pkt4Ptr q = parkedQuery(1);
    auto slot = std::make_shared<ParkedSlot>();
    ASSERT_EQ(Parker::Step::Park, parker_->begin(q, handle_, slot));
    EXPECT_EQ(1u, parker_->parked());
    ASSERT_EQ(1u, http_->calls.size());
    EXPECT_NE(std::string::npos, http_->urls[0].find("sub82_1="));
    EXPECT_FALSE(slot->get());
    EXPECT_EQ(0, sent_);
    EXPECT_EQ(0, fetcher_->calls.load());   // the blocking fetcher is never used
    http_->calls[0](test::ok(INSTALL));
    EXPECT_EQ(1, sent_);                    // unparked: Kea sends
    EXPECT_EQ(0u, parker_->parked());
    EXPECT_EQ(0u, lot_->size());
    ASSERT_TRUE(slot->get());
    EXPECT_TRUE(slot->get()->from_backend);
    Pkt4Ptr offer = test::response(isc::dhcp::DHCPOFFER);
    Engine::apply(*slot->get(), *offer);
    EXPECT_EQ("10.89.0.4", test::optionText(*offer, 66));
    EXPECT_EQ(1u, engine_->counter(BACKEND_CALLS));
    EXPECT_EQ(1u, engine_->counter(BACKEND_ANSWERS));
}

TEST_F(ParkerTest, CacheHitAnswersAtOnceWithoutParking) {
    Pkt4Ptr first = parkedQuery(1);
    auto slot = std::make_shared<ParkedSlot>();
    ASSERT_EQ(Parker::Step::Park, parker_->begin(first, handle_, slot));
    http_->calls[0](test::ok(INSTALL));
    // The REQUEST of the same client: answered from the cache, no call, nothing referenced.
    test::PacketSpec spec = client(1);
    spec.type = isc::dhcp::DHCPREQUEST;
    Pkt4Ptr request = test::parsedQuery(spec);
    auto slot2 = std::make_shared<ParkedSlot>();
    EXPECT_EQ(Parker::Step::Now, parker_->begin(request, handle_, slot2));
    EXPECT_EQ(1u, http_->calls.size());
    EXPECT_EQ(0u, parker_->parked());
    ASSERT_TRUE(slot2->get());
    EXPECT_TRUE(slot2->get()->from_backend);
    EXPECT_EQ(1u, engine_->counter(CACHE_HITS));
}

TEST_F(ParkerTest, TimeoutUnparksWithTheFailurePolicyAndCachesIt) {
    Pkt4Ptr q = parkedQuery(1);
    auto slot = std::make_shared<ParkedSlot>();
    ASSERT_EQ(Parker::Step::Park, parker_->begin(q, handle_, slot));
    http_->calls[0](test::failure(FetchResult::Timeout));
    EXPECT_EQ(1, sent_);
    ASSERT_TRUE(slot->get());
    EXPECT_FALSE(slot->get()->from_backend);
    Pkt4Ptr offer = test::response(isc::dhcp::DHCPOFFER);
    Engine::apply(*slot->get(), *offer);
    EXPECT_EQ("0.0.0.0", test::optionText(*offer, 66));   // boot-local
    EXPECT_EQ(1u, engine_->counter(FAILURES));
    // Negatively cached: the retransmission is answered at once with the same policy.
    auto slot2 = std::make_shared<ParkedSlot>();
    EXPECT_EQ(Parker::Step::Now, parker_->begin(test::parsedQuery(client(1)), handle_, slot2));
    EXPECT_EQ(slot->get(), slot2->get());
    EXPECT_EQ(1u, http_->calls.size());
}

TEST_F(ParkerTest, InFlightBoundIsTheConfiguredMaximumAndOverloadDrops) {
    std::vector<ParkedSlotPtr> slots;
    for (int port = 1; port <= 3; ++port) {
        slots.push_back(std::make_shared<ParkedSlot>());
        Parker::Step step = parker_->begin(parkedQuery(port), handle_, slots.back());
        // Two calls in flight although a pool of 2 threads would allow the blocking path one.
        EXPECT_EQ(port <= 2 ? Parker::Step::Park : Parker::Step::Now, step) << port;
    }
    ASSERT_TRUE(slots[2]->get());
    EXPECT_TRUE(slots[2]->get()->drop);       // the calls are moving: no reply, the client retries
    EXPECT_EQ(1u, engine_->counter(OVERLOADED));
    EXPECT_EQ(2u, parker_->parked());
    EXPECT_EQ(2u, http_->calls.size());
    EXPECT_EQ(0u, engine_->cache().size());   // an overload is never cached
}

TEST_F(ParkerTest, StopDropsParkedPacketsAndIgnoresLateCompletions) {
    auto s1 = std::make_shared<ParkedSlot>();
    auto s2 = std::make_shared<ParkedSlot>();
    ASSERT_EQ(Parker::Step::Park, parker_->begin(parkedQuery(1), handle_, s1));
    ASSERT_EQ(Parker::Step::Park, parker_->begin(parkedQuery(2), handle_, s2));
    EXPECT_EQ(2u, lot_->size());
    EXPECT_EQ(2u, parker_->stop());
    EXPECT_EQ(0u, lot_->size());              // Kea forgets them: nothing sent
    EXPECT_EQ(0, sent_);
    http_->calls[0](test::ok(INSTALL));       // a completion racing the stop changes nothing
    EXPECT_EQ(0, sent_);
    EXPECT_FALSE(s1->get());
    // Stopped: a new matching packet is not parked (its answer comes from the bounded call).
    auto s3 = std::make_shared<ParkedSlot>();
    EXPECT_EQ(Parker::Step::Now, parker_->begin(parkedQuery(3), handle_, s3));
    ASSERT_TRUE(s3->get());
    EXPECT_EQ(0u, lot_->size() - 1);          // only the new packet's own park, untouched
    EXPECT_EQ(2u, http_->calls.size());
    EXPECT_EQ(0u, parker_->stop());
}

TEST_F(ParkerTest, NothingToParkInMeansTheBoundedBlockingCall) {
    // No lot, and a packet Kea did not park: today's bounded call on the callout's thread.
    auto slot = std::make_shared<ParkedSlot>();
    EXPECT_EQ(Parker::Step::Now, parker_->begin(test::parsedQuery(client(1)), ParkingLotHandlePtr(), slot));
    ASSERT_TRUE(slot->get());
    EXPECT_TRUE(slot->get()->from_backend);
    auto slot2 = std::make_shared<ParkedSlot>();
    EXPECT_EQ(Parker::Step::Now, parker_->begin(test::parsedQuery(client(2)), handle_, slot2));
    ASSERT_TRUE(slot2->get());
    EXPECT_TRUE(slot2->get()->from_backend);
    EXPECT_EQ(0u, http_->calls.size());
    EXPECT_EQ(2, fetcher_->calls.load());
    EXPECT_EQ(2u, engine_->counter(BACKEND_CALLS));
    EXPECT_EQ(0u, parker_->parked());
}

TEST_F(ParkerTest, ACompletionDuringAPauseIsHeldUntilResume) {
    ParkedSlotPtr slot = parkThenCompleteWhilePaused();
    EXPECT_EQ(0, sent_);                  // nothing queued on Kea's paused thread pool
    EXPECT_FALSE(slot->get());
    EXPECT_EQ(1u, parker_->parked());
    parker_->resume();
    EXPECT_EQ(1, sent_);
    ASSERT_TRUE(slot->get());
    EXPECT_TRUE(slot->get()->from_backend);
    EXPECT_EQ(0u, parker_->parked());
}

TEST_F(ParkerTest, StopDuringAPauseDropsAHeldCompletionUnsent) {
    parkThenCompleteWhilePaused();
    EXPECT_EQ(1u, parker_->stop());       // the unload inside a reconfiguration's critical section
    parker_->resume();
    EXPECT_EQ(0, sent_);
    EXPECT_EQ(0u, parker_->parked());
}

TEST_F(ParkerTest, KeasCriticalSectionHoldsCompletionsWhileWatched) {
    isc::util::MultiThreadingMgr::instance().setMode(true);
    parker_->watchCriticalSections();
    Pkt4Ptr q1 = parkedQuery(1);
    Pkt4Ptr q2 = parkedQuery(2);
    ASSERT_EQ(Parker::Step::Park, parker_->begin(q1, handle_, std::make_shared<ParkedSlot>()));
    ASSERT_EQ(Parker::Step::Park, parker_->begin(q2, handle_, std::make_shared<ParkedSlot>()));
    {
        isc::util::MultiThreadingCriticalSection cs;   // as config-set and most commands enter one
        http_->calls[0](test::ok(INSTALL));
        EXPECT_EQ(0, sent_);
    }
    EXPECT_EQ(1, sent_);                  // unparked when the section ended
    parker_->unwatchCriticalSections();
    {
        isc::util::MultiThreadingCriticalSection cs;
        http_->calls[1](test::ok(INSTALL));
        EXPECT_EQ(2, sent_);              // no longer watched: unparked at once
    }
    isc::util::MultiThreadingMgr::instance().setMode(false);
}

/// The callout pair on a real CalloutHandle (multi-threaded Kea): lease4_offer's work parks, the
/// completion unparks, pkt4_send applies the parked decision without a second decision.
class ParkedCalloutTest : public ParkerTest {
protected:
    ParkedCalloutTest() : callout_(boost::make_shared<isc::hooks::CalloutManager>()) {
        isc::util::MultiThreadingMgr::instance().setMode(true);
        // A bare handle's hook index is -1: its parking lot is the server's lot for -1.
        server_lot_ = isc::hooks::ServerHooks::getServerHooks().getParkingLotPtr(-1);
    }
    ~ParkedCalloutTest() {
        isc::util::MultiThreadingMgr::instance().setMode(false);
        isc::hooks::ServerHooks::getServerHooks().getParkingLotsPtr()->clear();
    }
    /// The query and its leases on the handle, the query parked; on_unpark runs (on the unparking thread)
    /// before the "send" is counted.
    void arm(const Pkt4Ptr& q, bool with_lease = true, std::function<void()> on_unpark = {}) {
        callout_.setArgument("query4", q);
        isc::dhcp::Lease4CollectionPtr leases(new isc::dhcp::Lease4Collection());
        if (with_lease) {
            leases->push_back(isc::dhcp::Lease4Ptr());   // only the count matters here
        }
        callout_.setArgument("leases4", leases);
        server_lot_->park(q, [this, on_unpark]() {
            if (on_unpark) {
                on_unpark();
            }
            ++sent_;
        });
    }
    CalloutHandle callout_;
    ParkingLotPtr server_lot_;
};

TEST_F(ParkedCalloutTest, ParkThenPkt4SendAppliesOnce) {
    Pkt4Ptr q = test::parsedQuery(client(1));
    arm(q);
    parkAnswer(engine_.get(), parker_.get(), callout_, "lease4_offer");
    EXPECT_EQ(CalloutHandle::NEXT_STEP_PARK, callout_.getStatus());
    // Kea 2.6+ reads this on unpark (an ERROR log line per OFFER without it); the hook pings nothing
    bool in_use = true;
    callout_.getArgument("offer_address_in_use", in_use);
    EXPECT_FALSE(in_use);
    ASSERT_EQ(1u, http_->calls.size());
    http_->calls[0](test::ok(INSTALL));
    EXPECT_EQ(1, sent_);
    // Kea's send path: pkt4_send with the response.
    callout_.setStatus(CalloutHandle::NEXT_STEP_CONTINUE);
    Pkt4Ptr offer = test::response(isc::dhcp::DHCPOFFER);
    callout_.setArgument("response4", offer);
    pkt4Send(engine_.get(), callout_, true);
    EXPECT_EQ("10.89.0.4", test::optionText(*offer, 66));
    EXPECT_EQ(1u, offer->options_.count(66));   // set once
    EXPECT_EQ(1u, engine_->counter(BACKEND_CALLS));
    EXPECT_EQ(0u, engine_->counter(CACHE_HITS));   // pkt4_send did not decide again
    EXPECT_EQ(0, fetcher_->calls.load());
}

TEST_F(ParkedCalloutTest, NakAndSingleThreadedKeaAreLeftToPkt4Send) {
    Pkt4Ptr q = test::parsedQuery(client(1));
    arm(q, false);   // no lease: a NAK follows
    parkAnswer(engine_.get(), parker_.get(), callout_, "leases4_committed");
    EXPECT_EQ(CalloutHandle::NEXT_STEP_CONTINUE, callout_.getStatus());
    EXPECT_EQ(0u, http_->calls.size());
    server_lot_->drop(q);
    isc::util::MultiThreadingMgr::instance().setMode(false);
    arm(q);
    parkAnswer(engine_.get(), parker_.get(), callout_, "lease4_offer");
    EXPECT_EQ(CalloutHandle::NEXT_STEP_CONTINUE, callout_.getStatus());
    EXPECT_EQ(0u, http_->calls.size());
    EXPECT_FALSE(parkedSlot(callout_));
}

TEST_F(ParkedCalloutTest, OverloadedAtTheParkingPointDropsTheReply) {
    for (int port = 1; port <= 2; ++port) {
        auto slot = std::make_shared<ParkedSlot>();
        ASSERT_EQ(Parker::Step::Park, parker_->begin(parkedQuery(port), handle_, slot));
    }
    arm(test::parsedQuery(client(3)));
    parkAnswer(engine_.get(), parker_.get(), callout_, "lease4_offer");
    EXPECT_EQ(CalloutHandle::NEXT_STEP_DROP, callout_.getStatus());
}

TEST_F(ParkedCalloutTest, AnOfferUnparkedBeforeTheCalloutReturnsFindsOfferAddressInUse) {
    int missing = 0;
    // What Kea's unpark reads, on the completing thread:
    arm(test::parsedQuery(client(1)), true, [this, &missing]() {
        bool in_use = true;
        try {
            callout_.getArgument("offer_address_in_use", in_use);
        } catch (const isc::hooks::NoSuchArgument&) {
            ++missing;
        }
    });
    http_->immediate.reset(new FetchResult(test::ok(INSTALL)));
    parkAnswer(engine_.get(), parker_.get(), callout_, "lease4_offer");
    EXPECT_EQ(CalloutHandle::NEXT_STEP_PARK, callout_.getStatus());
    EXPECT_EQ(1, sent_);
    EXPECT_EQ(0, missing);
}

TEST_F(ParkedCalloutTest, AnEarlierCalloutsOfferAddressInUseIsKept) {
    Pkt4Ptr q = test::parsedQuery(client(1));
    arm(q);
    callout_.setArgument("offer_address_in_use", true);   // e.g. the ping-check hook found the address used
    parkAnswer(engine_.get(), parker_.get(), callout_, "lease4_offer");
    EXPECT_EQ(CalloutHandle::NEXT_STEP_PARK, callout_.getStatus());
    bool in_use = false;
    callout_.getArgument("offer_address_in_use", in_use);
    EXPECT_TRUE(in_use);
    http_->calls[0](test::ok(INSTALL));
}

}  // namespace
