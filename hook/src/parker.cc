#include "parker.h"

#include <hooks/callout_handle.h>
#include <util/multi_threading_mgr.h>

#include <vector>

using isc::dhcp::Pkt4Ptr;
using isc::hooks::CalloutHandle;
using isc::hooks::ParkingLotHandlePtr;

namespace isc {
namespace remote_options {

const char* const PARKED_SLOT_CONTEXT = "remote-options-parked";
const char* const Parker::CRITICAL_SECTION_NAME = "remote-options-parked";

ParkedSlotPtr parkedSlot(CalloutHandle& handle) {
    ParkedSlotPtr slot;
    try {
        handle.getContext(PARKED_SLOT_CONTEXT, slot);
    } catch (const isc::hooks::NoSuchCalloutContext&) {
        // no parking-point callout decided this packet
    }
    return (slot);
}

Parker::Parker(Engine& engine, std::shared_ptr<AsyncGet> http)
    : engine_(engine), http_(http), next_id_(0), stopped_(false), paused_(false), watching_(false) {
}

Parker::~Parker() {
    unwatchCriticalSections();
    stop();
}

void Parker::watchCriticalSections() {
    if (watching_) {
        return;
    }
    isc::util::MultiThreadingMgr::instance().addCriticalSectionCallbacks(
        CRITICAL_SECTION_NAME, []() {}, [this]() { pause(); }, [this]() { resume(); });
    watching_ = true;
}

void Parker::unwatchCriticalSections() {
    if (watching_) {
        isc::util::MultiThreadingMgr::instance().removeCriticalSectionCallbacks(CRITICAL_SECTION_NAME);
        watching_ = false;
    }
}

void Parker::pause() {
    std::lock_guard<std::mutex> unparking(unparking_);
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = true;
}

void Parker::resume() {
    std::vector<Pending> ready;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        paused_ = false;
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (it->second.held) {
                ready.push_back(it->second);
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
    }
    std::lock_guard<std::mutex> unparking(unparking_);
    for (const Pending& p : ready) {
        settle(p, *p.held);
    }
}

Parker::Step Parker::begin(const Pkt4Ptr& query, const ParkingLotHandlePtr& lot, const ParkedSlotPtr& slot,
                           const std::function<void()>& before_call) {
    Engine::Start started = engine_.start(*query, true);
    if (!started.call()) {
        slot->set(started.decision);
        return (Step::Now);
    }
    if (before_call) {
        before_call();   // before the packet is referenced: a throw leaves nothing parked
    }
    uint64_t id = 0;
    if (lot) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!stopped_) {
            // The reference first: a completion may run before this callout returns, and must then
            // only take the reference back (Kea sends when the callout has set NEXT_STEP_PARK). Kea
            // parked the packet before calling the callouts unless it does not park this packet here
            // (then reference() throws).
            try {
                lot->reference(query);
                id = ++next_id_;
                pending_[id] = Pending{query, lot, slot, started};
            } catch (const std::exception&) {
                id = 0;
            }
        }
    }
    if (!id) {
        // Nothing to park in (no lot, not parked, unloading): the admitted call is made here, bounded
        // by request-timeout-ms, as on Kea 2.2.
        slot->set(engine_.callNow(started, *query));
        return (Step::Now);
    }
    if (http_->start(engine_.callUrl(started.key), [this, id](const FetchResult& r) { complete(id, r); })) {
        return (Step::Park);
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_.erase(id);
    }
    lot->dereference(query);
    FetchResult stopped;   // the fetcher stopped between the two (unload): as an unreachable backend
    stopped.kind = FetchResult::Connect;
    stopped.error = "the hook is unloading";
    slot->set(engine_.finish(started, *query, stopped));
    return (Step::Now);
}

void Parker::complete(uint64_t id, const FetchResult& result) {
    std::lock_guard<std::mutex> unparking(unparking_);
    Pending p;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = pending_.find(id);
        if (it == pending_.end()) {
            return;   // stopped meanwhile: dropped from its lot already
        }
        if (paused_) {
            it->second.held = result;   // resume() unparks it, or stop() drops it
            return;
        }
        p = it->second;
        pending_.erase(it);
    }
    settle(p, result);
}

void Parker::settle(const Pending& p, const FetchResult& result) {
    p.slot->set(engine_.finish(p.started, *p.query, result));
    try {
        p.lot->unpark(p.query);
    } catch (const std::exception& ex) {
        engine_.reportError("unpark", ex.what());
    }
}

size_t Parker::stop() {
    http_->stop();
    std::map<uint64_t, Pending> left;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopped_ = true;
        left.swap(pending_);
    }
    for (auto& item : left) {
        try {
            item.second.lot->drop(item.second.query);
        } catch (const std::exception& ex) {
            engine_.reportError("unload", ex.what());
        }
    }
    return (left.size());
}

size_t Parker::parked() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return (pending_.size());
}

}  // namespace remote_options
}  // namespace isc
