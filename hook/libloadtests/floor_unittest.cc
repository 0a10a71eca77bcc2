// The bench's floor library (floor/floor.cc) loaded by Kea's HooksManager: it registers callouts at the hook
// points the remote-options hook uses on this release, and a packet through them comes out as it went in.
// The library's path comes from the environment (MALINA_FLOOR_SO; `make test` sets it).

#include <dhcp/dhcp4.h>
#include <dhcp/pkt4.h>
#include <hooks/callout_handle.h>
#include <hooks/hooks.h>
#include <hooks/hooks_manager.h>

#include <gtest/gtest.h>

#include "hook_points.h"
#include "parking_rule.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::hooks::CalloutHandlePtr;
using isc::hooks::HooksManager;

namespace {

std::string floorPath() {
    const char* path = std::getenv("MALINA_FLOOR_SO");
    return (path ? std::string(path) : std::string());
}

class FloorTest : public ::testing::Test {
protected:
    FloorTest() {
        HooksManager::unloadLibraries();
    }
    ~FloorTest() override {
        HooksManager::unloadLibraries();
    }

    static bool loadFloor(const ConstElementPtr& parameters = Element::createMap()) {
        isc::hooks::HookLibsCollection libraries;
        libraries.emplace_back(floorPath(), parameters);
        return (HooksManager::loadLibraries(libraries));
    }
};

TEST_F(FloorTest, LibraryPathGiven) {
    ASSERT_FALSE(floorPath().empty()) << "set MALINA_FLOOR_SO to the built floor library";
    EXPECT_EQ(0, access(floorPath().c_str(), R_OK)) << floorPath();
}

TEST_F(FloorTest, RegistersTheRemoteOptionsHookPointsOfThisRelease) {
    ASSERT_TRUE(loadFloor());
    EXPECT_TRUE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send));
    bool parks = KEA_HOOKS_VERSION >= isc::remote_options::FIRST_PARKING_HOOKS_VERSION;
    EXPECT_EQ(parks, HooksManager::calloutsPresent(HOOK_POINTS.lease4_offer));
    EXPECT_EQ(parks, HooksManager::calloutsPresent(HOOK_POINTS.leases4_committed));
}

TEST_F(FloorTest, HookPointsParameterChoosesASubset) {
    ASSERT_TRUE(loadFloor(Element::fromJSON(R"({"hook-points": ["pkt4_send"]})")));
    EXPECT_TRUE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send));
    EXPECT_FALSE(HooksManager::calloutsPresent(HOOK_POINTS.lease4_offer));
    EXPECT_FALSE(HooksManager::calloutsPresent(HOOK_POINTS.leases4_committed));
    if (KEA_HOOKS_VERSION >= isc::remote_options::FIRST_PARKING_HOOKS_VERSION) {
        ASSERT_TRUE(loadFloor(Element::fromJSON(R"({"hook-points": ["lease4_offer", "leases4_committed"]})")));
        EXPECT_FALSE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send));
        EXPECT_TRUE(HooksManager::calloutsPresent(HOOK_POINTS.lease4_offer));
        EXPECT_TRUE(HooksManager::calloutsPresent(HOOK_POINTS.leases4_committed));
    }
}

TEST_F(FloorTest, BadHookPointsParameterFailsToLoad) {
    for (const char* bad : {R"({"hook-points": "pkt4_send"})", R"({"hook-points": ["pkt4_receive"]})",
                            R"({"hook-points": [4]})"}) {
        EXPECT_FALSE(loadFloor(Element::fromJSON(bad))) << bad;
        EXPECT_FALSE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send)) << bad;
    }
    if (KEA_HOOKS_VERSION < isc::remote_options::FIRST_PARKING_HOOKS_VERSION) {   // 2.2: the hook never parks
        EXPECT_FALSE(loadFloor(Element::fromJSON(R"({"hook-points": ["lease4_offer"]})")));
    }
}

TEST_F(FloorTest, PacketPassesUnchanged) {
    ASSERT_TRUE(loadFloor());
    isc::dhcp::Pkt4Ptr query(new isc::dhcp::Pkt4(isc::dhcp::DHCPDISCOVER, 42));
    isc::dhcp::Pkt4Ptr offer(new isc::dhcp::Pkt4(isc::dhcp::DHCPOFFER, 42));
    size_t options = offer->options_.size();
    CalloutHandlePtr handle = HooksManager::createCalloutHandle();
    handle->setArgument("query4", query);
    handle->setArgument("response4", offer);
    HooksManager::callCallouts(HOOK_POINTS.pkt4_send, *handle);
    EXPECT_EQ(isc::hooks::CalloutHandle::NEXT_STEP_CONTINUE, handle->getStatus());
    EXPECT_EQ(options, offer->options_.size());
}

TEST_F(FloorTest, UnloadsCleanly) {
    ASSERT_TRUE(loadFloor());
    EXPECT_TRUE(HooksManager::unloadLibraries());
    EXPECT_FALSE(HooksManager::calloutsPresent(HOOK_POINTS.pkt4_send));
}

}  // namespace
