// The parked path (Kea 2.6+, multi-threaded): a matching DISCOVER's or REQUEST's answer waits in Kea's
// parking lot (lease4_offer, leases4_committed) while the backend call runs on the asynchronous
// fetcher; its completion leaves the decision in the packet's slot and unparks the packet, and
// pkt4_send applies the slot's decision instead of deciding again. No packet is unparked during one of
// Kea's critical sections (pause/resume). The decision itself is the
// engine's (Engine::start/finish): cache, overload rule, breaker and failure policy as on the
// blocking path.
#ifndef REMOTE_OPTIONS_PARKER_H
#define REMOTE_OPTIONS_PARKER_H

#include "async_fetcher.h"
#include "engine.h"

#include <dhcp/pkt4.h>
#include <hooks/callout_handle.h>
#include <hooks/parking_lots.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace isc {
namespace remote_options {

/// The decision for one packet reached at lease4_offer / leases4_committed, for its pkt4_send. Kept
/// in the packet's callout handle context (CONTEXT_NAME), which lives as long as the packet.
class ParkedSlot {
public:
    void set(const DecisionPtr& d) {
        std::lock_guard<std::mutex> lock(mutex_);
        decision_ = d;
    }
    DecisionPtr get() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return (decision_);
    }

private:
    mutable std::mutex mutex_;
    DecisionPtr decision_;
};
typedef std::shared_ptr<ParkedSlot> ParkedSlotPtr;

/// The callout handle context name of a packet's slot.
extern const char* const PARKED_SLOT_CONTEXT;

/// The slot a parked-path callout left on this packet's handle, or null (none: decide as usual).
ParkedSlotPtr parkedSlot(isc::hooks::CalloutHandle& handle);

class Parker {
public:
    /// What begin() did with a matching packet.
    enum class Step {
        Now,    ///< decided without a call (slot filled): cache hit, bad option 82, refused
        Park,   ///< the call is running: the packet is referenced in its lot and unparked on completion
    };

    Parker(Engine& engine, std::shared_ptr<AsyncGet> http);
    ~Parker();

    /// For a matching query at a parking hook point: the engine's first half; a call is started on
    /// the fetcher with the query referenced in `lot` (Park), or the slot is filled at once (Now).
    /// Nothing to park in (no lot, a packet Kea did not park, a stopped parker): the blocking call, as
    /// on Kea 2.2 (Now). Throws only what Engine::start throws (nothing is referenced then).
    /// before_call runs when a call is admitted, before the packet is referenced and the call started: what
    /// Kea's unpark reads must be in place before a completion can unpark the packet.
    Step begin(const isc::dhcp::Pkt4Ptr& query, const isc::hooks::ParkingLotHandlePtr& lot,
               const ParkedSlotPtr& slot, const std::function<void()>& before_call = std::function<void()>());

    /// Stops the fetcher (no completion runs after it returns), then drops every packet still parked
    /// from its lot: Kea forgets it without sending (the client retransmits to the next
    /// configuration). Returns how many were dropped. Idempotent.
    size_t stop();

    /// Packets parked by this hook and not yet unparked (completions held by pause() included).
    size_t parked() const;

    /// Kea's critical sections (a reconfiguration, most commands): while one lasts, a completion is held
    /// instead of unparking its packet. An unpark queues the packet's send on Kea's paused thread pool, and
    /// that queued send keeps the packet's callout handle, and with it the hook libraries, alive: a
    /// config-set then fails ("some libraries are still opened") after this hook's unload. pause() waits
    /// for a completion that is unparking; resume() unparks what was held (on the calling thread).
    void pause();
    void resume();

    /// pause() and resume() as Kea's critical-section callbacks (MultiThreadingMgr), under one name; until
    /// unwatchCriticalSections() or the parker's end.
    void watchCriticalSections();
    void unwatchCriticalSections();

    /// The name of the callbacks in MultiThreadingMgr.
    static const char* const CRITICAL_SECTION_NAME;

private:
    struct Pending {
        isc::dhcp::Pkt4Ptr query;
        isc::hooks::ParkingLotHandlePtr lot;
        ParkedSlotPtr slot;
        Engine::Start started;
        std::optional<FetchResult> held;   ///< completed while paused: unparked by resume()
    };
    /// On the fetcher's thread: the engine's second half, the slot filled, the packet unparked (Kea
    /// queues its send on a packet thread) — or, paused, the result kept for resume().
    void complete(uint64_t id, const FetchResult& result);
    /// The engine's second half into the slot, then the unpark.
    void settle(const Pending& p, const FetchResult& result);

    Engine& engine_;
    std::shared_ptr<AsyncGet> http_;
    mutable std::mutex mutex_;
    std::mutex unparking_;   ///< held by a completion while it unparks, and by pause(): none is half-way then
    std::map<uint64_t, Pending> pending_;
    uint64_t next_id_;
    bool stopped_;
    bool paused_;
    bool watching_;
};

}  // namespace remote_options
}  // namespace isc

#endif
