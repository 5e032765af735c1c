// The pool moved to util/thread_pool.h (one pool for the runner and the cache); this header is
// kept so that code written against the old path still builds.
#pragma once

#include "util/thread_pool.h"
