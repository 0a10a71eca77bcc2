// The built libdhcp_remote_options.so loaded by Kea's own HooksManager, as kea-dhcp4 loads it (the way
// Kea's hook libraries test themselves in their libloadtests): load with valid parameters, refuse
// invalid ones, run pkt4_send through the callout manager, answer a command, unload cleanly.
// The library's path comes from the environment (REMOTE_OPTIONS_SO; `make test` sets it).
//
// The backend is a loopback socket that listens and never accepts: a call to it shows as a pending
// connection, and times out after request-timeout-ms (the failure policy then applies).

#include <cc/command_interpreter.h>
#include <cc/data.h>
#include <dhcp/dhcp4.h>
#include <dhcp/hwaddr.h>
#include <dhcp/option.h>
#include <dhcp/pkt4.h>
#include <hooks/callout_handle.h>
#include <hooks/hooks_manager.h>
#include <stats/stats_mgr.h>

#include <gtest/gtest.h>

#include "hook_points.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::data::ElementPtr;
using isc::dhcp::OptionPtr;
using isc::dhcp::Pkt4;
using isc::dhcp::Pkt4Ptr;
using isc::hooks::CalloutHandle;
using isc::hooks::CalloutHandlePtr;
using isc::hooks::HookLibsCollection;
using isc::hooks::HooksManager;

namespace {

const char* const STATS_COMMAND = "remote-options-stats";

/// A loopback TCP port that listens and never accepts.
class SilentBackend {
public:
    SilentBackend() {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(addr);
        if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 16) != 0
            || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            ADD_FAILURE() << "cannot listen on loopback";
        }
        port_ = ntohs(addr.sin_port);
    }
    ~SilentBackend() {
        close(fd_);
    }
    std::string url() const {
        return ("http://127.0.0.1:" + std::to_string(port_) + "/v1/dhcp/options");
    }
    /// True when a client connected (the kernel completed its handshake; nobody accepted it).
    bool called() const {
        pollfd p{fd_, POLLIN, 0};
        return (poll(&p, 1, 0) == 1);
    }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

std::string libraryPath() {
    const char* path = std::getenv("REMOTE_OPTIONS_SO");
    return (path ? std::string(path) : std::string());
}

/// A relayed DISCOVER from a Pi 4 (option 97 "RPi4...") with option 82, or without option 97.
Pkt4Ptr discover(bool pi) {
    Pkt4Ptr query(new Pkt4(isc::dhcp::DHCPDISCOVER, 0x1234));
    query->setHWAddr(isc::dhcp::HWAddrPtr(
        new isc::dhcp::HWAddr(std::vector<uint8_t>{0xdc, 0xa6, 0x32, 0, 0, 1}, isc::dhcp::HTYPE_ETHER)));
    query->setGiaddr(isc::asiolink::IOAddress("10.90.1.1"));
    query->setHops(1);
    if (pi) {
        std::vector<uint8_t> guid{0x00, 'R', 'P', 'i', '4', 0x11, 0x31, 0xc0, 0, 0, 0, 0, 1, 0x6e, 0x87, 0xa4, 0x17};
        query->addOption(OptionPtr(new isc::dhcp::Option(isc::dhcp::Option::V4, isc::dhcp::DHO_UUID_GUID, guid)));
    }
    std::vector<uint8_t> rai{1, 7, 'G', 'i', '1', '/', '0', '/', '1', 2, 3, 't', 'o', 'r'};
    query->addOption(OptionPtr(new isc::dhcp::Option(isc::dhcp::Option::V4, isc::dhcp::DHO_DHCP_AGENT_OPTIONS, rai)));
    return (query);
}

/// The text of an option of a packet, or "(absent)".
std::string optionText(const Pkt4Ptr& pkt, uint16_t code) {
    OptionPtr opt = pkt->getOption(code);
    if (!opt) {
        return ("(absent)");
    }
    const isc::dhcp::OptionBuffer& data = opt->getData();
    return (std::string(data.begin(), data.end()));
}

/// A callout of another library that drops every packet (registered to run before the hook's).
int dropEverything(CalloutHandle& handle) {
    handle.setStatus(CalloutHandle::NEXT_STEP_DROP);
    return (0);
}

class LoadTest : public ::testing::Test {
protected:
    LoadTest() {
        HooksManager::unloadLibraries();
    }
    ~LoadTest() override {
        HooksManager::unloadLibraries();
    }

    ElementPtr params(const std::string& url) const {
        ElementPtr p = Element::createMap();
        p->set("url", Element::create(url));
        p->set("machine-guid", Element::create(std::string("RPi4")));
        p->set("connect-timeout-ms", Element::create(50));
        p->set("request-timeout-ms", Element::create(100));
        return (p);
    }

    bool load(const ConstElementPtr& parameters) {
        HookLibsCollection libraries;
        // emplace: Kea 2.x's entry is a pair, Kea 3.0's a HookLibInfo; both are built from (path, parameters)
        libraries.emplace_back(libraryPath(), parameters);
        return (HooksManager::loadLibraries(libraries));
    }

    /// Runs the pkt4_send callouts on a query and a fresh OFFER; returns the OFFER and the status.
    Pkt4Ptr send(const Pkt4Ptr& query, CalloutHandle::CalloutNextStep& status) {
        Pkt4Ptr offer(new Pkt4(isc::dhcp::DHCPOFFER, query->getTransid()));
        CalloutHandlePtr handle = HooksManager::createCalloutHandle();
        handle->setArgument("query4", query);
        handle->setArgument("response4", offer);
        HooksManager::callCallouts(HOOK_POINTS.pkt4_send, *handle);
        status = handle->getStatus();
        return (offer);
    }

    /// The hook's counters through its control command.
    ConstElementPtr stats() {
        CalloutHandlePtr handle = HooksManager::createCalloutHandle();
        handle->setArgument("command", isc::config::createCommand(STATS_COMMAND));
        HooksManager::callCommandHandlers(STATS_COMMAND, *handle);
        ConstElementPtr response;
        handle->getArgument("response", response);
        int rcode = -1;
        ConstElementPtr counters = isc::config::parseAnswer(rcode, response);
        EXPECT_EQ(0, rcode);
        return (counters);
    }

    /// What the library logged (Kea's test logging writes to stderr) while `action` ran.
    template <typename Action>
    static std::string logged(Action action) {
        ::testing::internal::CaptureStderr();
        action();
        return (::testing::internal::GetCapturedStderr());
    }

    /// Runs the dhcp4_srv_configured callouts with a server configuration; returns what was logged.
    static std::string configured(const std::string& dhcp4) {
        return (logged([&dhcp4] {
            CalloutHandlePtr handle = HooksManager::createCalloutHandle();
            ConstElementPtr json = Element::fromJSON(dhcp4);
            handle->setArgument("json_config", json);
            HooksManager::callCallouts(HOOK_POINTS.srv_configured, *handle);
        }));
    }

    static bool statPublished() {
        return (static_cast<bool>(isc::stats::StatsMgr::instance().getObservation("remote-options.backend-calls")));
    }
};

TEST_F(LoadTest, LibraryPathGiven) {
    ASSERT_FALSE(libraryPath().empty()) << "set REMOTE_OPTIONS_SO to the built library";
    EXPECT_EQ(0, access(libraryPath().c_str(), R_OK)) << libraryPath();
}

TEST_F(LoadTest, ValidParametersLoadAndUnloadTwice) {
    SilentBackend backend;
    for (int round = 0; round < 2; ++round) {
        ASSERT_TRUE(load(params(backend.url()))) << "round " << round;
        EXPECT_EQ(std::vector<std::string>{libraryPath()}, HooksManager::getLibraryNames());
        EXPECT_TRUE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send));
        EXPECT_TRUE(HooksManager::calloutsPresent(HOOK_POINTS.srv_configured));
        EXPECT_TRUE(HooksManager::commandHandlersPresent(STATS_COMMAND));
        EXPECT_TRUE(HooksManager::commandHandlersPresent("remote-options-cache-flush"));
        EXPECT_TRUE(statPublished());   // the engine exists

        EXPECT_TRUE(HooksManager::unloadLibraries());
        EXPECT_TRUE(HooksManager::getLibraryNames().empty());
        EXPECT_FALSE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send));
        EXPECT_FALSE(HooksManager::commandHandlersPresent(STATS_COMMAND));
        EXPECT_FALSE(statPublished());  // the engine was released by unload()
    }
    EXPECT_FALSE(backend.called());
}

TEST_F(LoadTest, InvalidParametersFailToLoad) {
    SilentBackend backend;
    std::vector<std::pair<ElementPtr, std::string>> bad;
    bad.emplace_back(Element::createMap(), "missing required parameter 'url'");
    bad.emplace_back(params("ftp://127.0.0.1/x"), "must start with http:// or https://");
    bad.emplace_back(params(backend.url()), "unknown parameter 'usr-class'");
    bad.back().first->set("usr-class", Element::create(std::string("x")));
    bad.emplace_back(params(backend.url()), "'request-timeout-ms' must be an integer");
    bad.back().first->set("request-timeout-ms", Element::create(std::string("fast")));
    bad.emplace_back(params(backend.url()), "'allowed-options' must not contain 53 (owned by the server)");
    bad.back().first->set("allowed-options", Element::fromJSON("[53]"));
    bad.emplace_back(params(backend.url()), "'auth-secret-file': cannot read '/nonexistent/hook.secret'");
    bad.back().first->set("auth-secret-file", Element::create(std::string("/nonexistent/hook.secret")));
    bad.emplace_back(params(backend.url()), "'auth-secret-file': '/dev/null' is empty");
    bad.back().first->set("auth-secret-file", Element::create(std::string("/dev/null")));
    for (const auto& item : bad) {
        const std::string json = item.first->str();
        bool loaded = true;
        std::string log = logged([&] { loaded = load(item.first); });
        EXPECT_FALSE(loaded) << json;
        EXPECT_NE(std::string::npos, log.find("REMOTE_OPTIONS_LOAD_FAILED")) << json << ": " << log;
        EXPECT_NE(std::string::npos, log.find(item.second)) << json << ": " << log;
        EXPECT_TRUE(HooksManager::getLibraryNames().empty()) << json;
        EXPECT_FALSE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send)) << json;
        EXPECT_FALSE(statPublished()) << json;
    }
    // A failed load leaves nothing behind that stops a good one.
    EXPECT_TRUE(load(params(backend.url())));
}

TEST_F(LoadTest, NonMatchingPacketCostsNoBackendCall) {
    SilentBackend backend;
    ASSERT_TRUE(load(params(backend.url())));
    CalloutHandle::CalloutNextStep status;
    Pkt4Ptr offer = send(discover(false), status);
    EXPECT_EQ(CalloutHandle::NEXT_STEP_CONTINUE, status);
    EXPECT_EQ("(absent)", optionText(offer, isc::dhcp::DHO_TFTP_SERVER_NAME));
    EXPECT_EQ(0, stats()->get("backend-calls")->intValue());
    EXPECT_FALSE(backend.called());

    // The control: a Pi is matched, the backend is called (and never answers: boot-local).
    offer = send(discover(true), status);
    EXPECT_EQ(CalloutHandle::NEXT_STEP_CONTINUE, status);
    EXPECT_EQ("0.0.0.0", optionText(offer, isc::dhcp::DHO_TFTP_SERVER_NAME));
    EXPECT_EQ(1, stats()->get("backend-calls")->intValue());
    EXPECT_EQ(1, stats()->get("failure-policy")->intValue());
    EXPECT_TRUE(backend.called());
    EXPECT_TRUE(HooksManager::unloadLibraries());
}

TEST_F(LoadTest, PacketDroppedByAnEarlierLibraryCostsNoBackendCall) {
    SilentBackend backend;
    ASSERT_TRUE(load(params(backend.url())));
    HooksManager::preCalloutsLibraryHandle().registerCallout("pkt4_send", dropEverything);
    CalloutHandle::CalloutNextStep status;
    Pkt4Ptr offer = send(discover(true), status);
    EXPECT_EQ(CalloutHandle::NEXT_STEP_DROP, status);
    EXPECT_EQ("(absent)", optionText(offer, isc::dhcp::DHO_TFTP_SERVER_NAME));
    EXPECT_EQ(0, stats()->get("backend-calls")->intValue());
    EXPECT_FALSE(backend.called());
    EXPECT_TRUE(HooksManager::unloadLibraries());
}

TEST_F(LoadTest, ServerConfiguredCalloutWarnsForASingleThreadedServerOnly) {
    SilentBackend backend;
    ASSERT_TRUE(load(params(backend.url())));
    std::string log = configured(
        R"({"Dhcp4": {"multi-threading": {"enable-multi-threading": true, "thread-pool-size": 4}}})");
    EXPECT_EQ(std::string::npos, log.find("REMOTE_OPTIONS_SINGLE_THREADED")) << log;
    EXPECT_EQ(std::string::npos, log.find("REMOTE_OPTIONS_CALLOUT_ERROR")) << log;
    log = configured(R"({"Dhcp4": {"multi-threading": {"enable-multi-threading": false}}})");
    EXPECT_NE(std::string::npos, log.find("REMOTE_OPTIONS_SINGLE_THREADED")) << log;
    EXPECT_TRUE(HooksManager::unloadLibraries());
}

}  // namespace
