// Entry points Kea reads before loading: the hooks API version built against, and that every callout
// may run on Kea's packet threads at once (the engine's state is guarded).
#include <hooks/hooks.h>

extern "C" {

int version() {
    return (KEA_HOOKS_VERSION);
}

int multi_threading_compatible() {
    return (1);
}

}  // extern "C"
