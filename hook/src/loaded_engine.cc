#include "loaded_engine.h"

namespace isc {
namespace remote_options {

std::unique_ptr<Engine>& loadedEngine() {
    static std::unique_ptr<Engine> engine;
    return (engine);
}

void logCalloutError(const char* where, const std::string& what) {
    if (loadedEngine()) {
        loadedEngine()->reportError(where, what);
    }
}

}  // namespace remote_options
}  // namespace isc
