// libdhcp_malina_floor.so: a bench instrument, not part of the lab's DHCP service. It registers callouts at the
// hook points the remote-options hook uses on this Kea release (pkt4_send everywhere; lease4_offer and
// leases4_committed where the server can park an OFFER: src/parking_rule.h, as the hook) and each callout
// returns at once. Kea still prepares every packet for those hook points (a callout handle's arguments, option
// copies, and on 2.6+ a proactive park and drop per DISCOVER and REQUEST), so Kea with this library is the
// ceiling of any hook at these points: bench/hook.py's `hook_points_floor` case. One optional parameter,
// "hook-points": a list naming a subset of those points (the price of each, measured apart); anything else in it
// is a load error (thrown: Kea logs HOOKS_LOAD_FRAMEWORK_EXCEPTION with the reason). No state.
#include "parking_rule.h"

#include <cc/data.h>
#include <exceptions/exceptions.h>
#include <hooks/hooks.h>

#include <iterator>
#include <set>
#include <string>
#include <vector>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::hooks::CalloutHandle;
using isc::hooks::LibraryHandle;

namespace {

int nothing(CalloutHandle&) {
    return (0);
}

/// The hook points the remote-options hook registers on this server.
std::vector<std::string> hookPoints() {
    std::vector<std::string> points = {"pkt4_send"};
    if (isc::remote_options::serverParksOffers()) {
        points.insert(points.end(), std::begin(isc::remote_options::PARKING_POINTS),
                      std::end(isc::remote_options::PARKING_POINTS));
    }
    return (points);
}

/// The points to register: all of hookPoints(), or the "hook-points" subset; false (and why) for a bad parameter.
bool chosenPoints(LibraryHandle& handle, std::vector<std::string>& out, std::string& why) {
    std::vector<std::string> all = hookPoints();
    ConstElementPtr param = handle.getParameter("hook-points");
    if (!param) {
        out = all;
        return (true);
    }
    if (param->getType() != Element::list) {
        why = "'hook-points' must be a list of hook point names";
        return (false);
    }
    std::set<std::string> known(all.begin(), all.end());
    for (const ConstElementPtr& item : param->listValue()) {
        if (!item || item->getType() != Element::string || !known.count(item->stringValue())) {
            why = "'hook-points' may name only the hook's hook points on this server";
            return (false);
        }
        out.push_back(item->stringValue());
    }
    return (true);
}

}  // namespace

extern "C" {

int version() {
    return (KEA_HOOKS_VERSION);
}

int multi_threading_compatible() {
    return (1);
}

int load(LibraryHandle& handle) {
    std::vector<std::string> points;
    std::string why;
    if (!chosenPoints(handle, points, why)) {
        isc_throw(isc::BadValue, "malina floor: " << why);
    }
    for (const std::string& point : points) {
        handle.registerCallout(point, nothing);
    }
    return (0);
}

int unload() {
    return (0);
}

}  // extern "C"
