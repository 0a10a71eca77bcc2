// The parked path of the loaded configuration (Kea 2.6+, multi-threaded): the parker and its fetcher
// thread, created by load() when the server can park an OFFER, stopped by unload() before the engine.
#ifndef REMOTE_OPTIONS_LOADED_PARKER_H
#define REMOTE_OPTIONS_LOADED_PARKER_H

#include "fetcher.h"
#include "parker.h"
#include "parking_rule.h"

#include <hooks/callout_handle.h>
#include <hooks/library_handle.h>

#include <memory>

namespace isc {
namespace remote_options {

/// Set by startParkedPath(), reset by stopParkedPath(). Empty on Kea 2.2 (the blocking path).
std::unique_ptr<Parker>& loadedParker();

/// When serverParksOffers(): the fetcher thread and parker for `engine`, and the lease4_offer and
/// leases4_committed callouts registered on `handle`. Returns whether the parked path is on.
bool startParkedPath(isc::hooks::LibraryHandle& handle, Engine& engine, const CurlOptions& opts);

/// The fetcher thread stopped and the packets still parked dropped (their clients retransmit);
/// returns how many. Nothing when the parked path is off.
size_t stopParkedPath();

/// The callouts (one per file).
int lease4OfferCallout(isc::hooks::CalloutHandle& handle);
int leases4CommittedCallout(isc::hooks::CalloutHandle& handle);

}  // namespace remote_options
}  // namespace isc

#endif
