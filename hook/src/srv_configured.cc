// The dhcp4_srv_configured callout: after Kea has applied a configuration (its multi-threading settings
// included), warn once when it serves packets on a single thread (every backend call then holds the
// only packet thread).
#include "loaded_engine.h"

#include <cc/data.h>
#include <hooks/hooks.h>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::hooks::CalloutHandle;
using namespace isc::remote_options;

extern "C" {

int dhcp4_srv_configured(CalloutHandle& handle) {
    try {
        Engine* engine = loadedEngine().get();
        if (engine) {
            // Kea 2.2 applies the new multi-threading settings to MultiThreadingMgr only after this
            // callout: read them from the configuration it passes (the "Dhcp4" map as given; no
            // "multi-threading" is Kea 2.2's default, off).
            ConstElementPtr json;
            handle.getArgument("json_config", json);
            if (json && json->getType() == Element::map && json->get("Dhcp4")) {
                json = json->get("Dhcp4");
            }
            if (json && json->getType() == Element::map) {
                engine->warnIfSingleThreaded(Engine::configuredThreads(json->get("multi-threading")));
            } else {
                engine->warnIfSingleThreaded();
            }
        }
    } catch (const std::exception& ex) {
        logCalloutError("dhcp4_srv_configured", ex.what());
    }
    return (0);
}

}  // extern "C"
