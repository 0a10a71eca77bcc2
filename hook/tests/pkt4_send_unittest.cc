// The pkt4_send callout's work on a callout handle as Kea passes it: a packet another callout already
// dropped costs nothing, a matching one gets the backend's options, an overloaded one is dropped.
#include "pkt4_send.h"
#include "test_util.h"

#include <hooks/callout_handle.h>
#include <hooks/callout_manager.h>
#include <gtest/gtest.h>

#include <boost/make_shared.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace isc::remote_options;
using isc::dhcp::Pkt4Ptr;
using isc::hooks::CalloutHandle;
using isc::hooks::CalloutManager;

namespace {

const char* INSTALL = R"({"66": "10.89.0.4", "224": "http://10.89.0.3:8080/v1/install/tok"})";

class Pkt4SendTest : public ::testing::Test {
protected:
    Pkt4SendTest()
        : handle_(boost::make_shared<CalloutManager>()),
          query_(test::parsedQuery(test::PacketSpec())),
          response_(test::response(isc::dhcp::DHCPOFFER)) {
        cfg_.url = "http://10.89.0.3:8080/v1/dhcp/options";
        cfg_.machine_guid = "RPi4";
        handle_.setArgument("query4", query_);
        handle_.setArgument("response4", response_);
    }

    std::unique_ptr<Engine> make(test::FakeFetcher::Script script) {
        fetcher_ = std::make_shared<test::FakeFetcher>(script);
        return (std::make_unique<Engine>(cfg_, fetcher_));
    }

    test::RuntimeDefs defs_;
    Config cfg_;
    CalloutHandle handle_;
    Pkt4Ptr query_;
    Pkt4Ptr response_;
    std::shared_ptr<test::FakeFetcher> fetcher_;
};

TEST_F(Pkt4SendTest, MatchingOfferGetsTheBackendsOptions) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    pkt4Send(engine.get(), handle_);
    EXPECT_EQ(1, fetcher_->calls.load());
    EXPECT_EQ(CalloutHandle::NEXT_STEP_CONTINUE, handle_.getStatus());
    EXPECT_EQ("10.89.0.4", test::optionText(*response_, 66));
    EXPECT_EQ("http://10.89.0.3:8080/v1/install/tok", test::optionText(*response_, 224));
}

TEST_F(Pkt4SendTest, PacketDroppedByAnEarlierCalloutCostsNoBackendCall) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    handle_.setStatus(CalloutHandle::NEXT_STEP_DROP);
    pkt4Send(engine.get(), handle_);
    EXPECT_EQ(0, fetcher_->calls.load());
    EXPECT_EQ(0u, engine->counter(BACKEND_CALLS));
    EXPECT_EQ(0u, engine->counter(FAILURES));
    EXPECT_EQ(0u, engine->cache().size());
    EXPECT_EQ(CalloutHandle::NEXT_STEP_DROP, handle_.getStatus());   // still dropped
    EXPECT_EQ("(absent)", test::optionText(*response_, 66));
    EXPECT_EQ("(absent)", test::optionText(*response_, 224));
    // The same packet, not dropped, is served: the drop alone made the difference.
    handle_.setStatus(CalloutHandle::NEXT_STEP_CONTINUE);
    pkt4Send(engine.get(), handle_);
    EXPECT_EQ(1, fetcher_->calls.load());
    EXPECT_EQ("10.89.0.4", test::optionText(*response_, 66));
}

TEST_F(Pkt4SendTest, SkipIsNotADrop) {
    // NEXT_STEP_SKIP at pkt4_send means another callout packs the response itself; the hook's
    // behaviour for it is unchanged (it still decides).
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    handle_.setStatus(CalloutHandle::NEXT_STEP_SKIP);
    pkt4Send(engine.get(), handle_);
    EXPECT_EQ(1, fetcher_->calls.load());
}

TEST_F(Pkt4SendTest, NonMatchingNakAndNoEngineAreLeftAlone) {
    auto engine = make([](const std::string&) { return (test::ok(INSTALL)); });
    test::PacketSpec other;
    other.with_97 = false;
    handle_.setArgument("query4", test::parsedQuery(other));
    pkt4Send(engine.get(), handle_);
    handle_.setArgument("query4", query_);
    handle_.setArgument("response4", test::response(isc::dhcp::DHCPNAK));
    pkt4Send(engine.get(), handle_);
    handle_.setArgument("response4", response_);
    pkt4Send(nullptr, handle_);
    EXPECT_EQ(0, fetcher_->calls.load());
    EXPECT_EQ(CalloutHandle::NEXT_STEP_CONTINUE, handle_.getStatus());
    EXPECT_EQ("(absent)", test::optionText(*response_, 66));
}

TEST_F(Pkt4SendTest, OverloadedReplyIsDropped) {
    // One slot, held by a call that is in flight: the next matching client (calls moving) is dropped.
    cfg_.max_concurrent_requests = 1;
    std::mutex mutex;
    std::condition_variable cv;
    bool entered = false;
    bool release = false;
    auto engine = make([&](const std::string&) {
        std::unique_lock<std::mutex> lock(mutex);
        entered = true;
        cv.notify_all();
        cv.wait(lock, [&] { return (release); });
        return (test::ok(INSTALL));
    });
    std::thread first([&] {
        CalloutHandle other(boost::make_shared<CalloutManager>());
        other.setArgument("query4", test::parsedQuery(test::PacketSpec()));
        other.setArgument("response4", test::response(isc::dhcp::DHCPOFFER));
        pkt4Send(engine.get(), other);
    });
    {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return (entered); });
    }
    test::PacketSpec second;
    second.opt82 = test::concat({test::tlv(1, test::bytes("Gi1/0/2")), test::tlv(2, test::bytes("tor-a-01"))});
    handle_.setArgument("query4", test::parsedQuery(second));
    pkt4Send(engine.get(), handle_);
    EXPECT_EQ(CalloutHandle::NEXT_STEP_DROP, handle_.getStatus());
    EXPECT_EQ(1u, engine->counter(OVERLOADED));
    {
        std::lock_guard<std::mutex> lock(mutex);
        release = true;
    }
    cv.notify_all();
    first.join();
    EXPECT_EQ(1, fetcher_->calls.load());
}

}  // namespace
