import threading

import config_mod


def work():
    for _ in range(100):
        config_mod.last = object()  # a new object each time: 100 writes


threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
