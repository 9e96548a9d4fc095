/* Attribute dependencies (watch_dep_on_attr): obj.name for a class, by the
 * MRO lookup of method calls (_PyType_Lookup), and for a module. */
#include "harness.h"

/* The classes most tests use:
 *   Base          defines m (a plain function), other and below
 *   Mid(Base)     defines nothing: Mid.m is inherited from a base
 *   Sub(Mid)      defines own: Sub.m is inherited from a base of a base
 *   Sibling(Base) another subclass of Base
 *   Other, A, B   unrelated classes that define m, for __bases__ assignment
 *   C(A)          C.m is A.m until C.__bases__ changes
 * raw_dict(cls) is the class's own dict, not its mappingproxy: a write to it
 * skips PyType_Modified. */
#define CLASSES_SRC                                                           \
  "import gc\n"                                                               \
  "import weakref\n"                                                          \
  "class Base:\n"                                                             \
  "    def m(self):\n"                                                        \
  "        return 'Base.m'\n"                                                 \
  "    other = 'Base.other'\n"                                                \
  "class Mid(Base):\n"                                                        \
  "    pass\n"                                                                \
  "class Sub(Mid):\n"                                                         \
  "    own = 'Sub.own'\n"                                                     \
  "class Sibling(Base):\n"                                                    \
  "    pass\n"                                                                \
  "class Other:\n"                                                            \
  "    def m(self):\n"                                                        \
  "        return 'Other.m'\n"                                                \
  "class A:\n"                                                                \
  "    def m(self):\n"                                                        \
  "        return 'A.m'\n"                                                    \
  "class B:\n"                                                                \
  "    def m(self):\n"                                                        \
  "        return 'B.m'\n"                                                    \
  "class C(A):\n"                                                             \
  "    pass\n"                                                                \
  "def replacement(self):\n"                                                  \
  "    return 'replacement'\n"                                                \
  "def raw_dict(cls):\n"                                                      \
  "    return [x for x in gc.get_referents(cls.__dict__)\n"                   \
  "            if type(x) is dict][0]\n"                                      \
  "assert Sub.m is Base.__dict__['m'] and C.m is A.__dict__['m']\n"

/* A class whose bases are all builtins other than object. */
#define BUILTIN_BASED_SRC                                                     \
  "class E(Exception):\n"                                                     \
  "    def m(self):\n"                                                        \
  "        return 'E.m'\n"                                                    \
  "def replacement(self):\n"                                                  \
  "    return 'replacement'\n"

/* 1500 modifications of cls, each followed by a lookup: on 3.13 every lookup
 * gives the class a new version tag, so its type watchers stop firing after
 * 1000 (MAX_VERSIONS_PER_CLASS). */
#define MODIFY_1500_TIMES(cls)                                                \
  "for i in range(1500):\n"                                                   \
  "    " cls ".x = i\n"                                                       \
  "    " cls ".x\n"

/* What _PyType_Lookup(cls, name) finds: the name's entry in the __dict__ of
 * the first class of cls.__mro__ that holds it, as stored (no descriptor is
 * called), or NULL.  A new reference. */
static PyObject *
mro_lookup_at(const char *file, int line, PyObject *cls, const char *name)
{
  PyObject *mro = PyObject_GetAttrString(cls, "__mro__");
  if (mro == NULL || !PyTuple_Check(mro))
    harness_fail_python(file, line, "reading __mro__");
  PyObject *found = NULL;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro) && found == NULL; i++) {
    PyObject *dict = PyType_GetDict((PyTypeObject *)PyTuple_GET_ITEM(mro, i));
    if (dict == NULL)
      harness_fail_python(file, line, "PyType_GetDict");
    found = PyDict_GetItemWithError(dict, key(name));
    if (found == NULL && PyErr_Occurred())
      harness_fail_python(file, line, "a class dict lookup");
    Py_XINCREF(found);
    Py_DECREF(dict);
  }
  Py_DECREF(mro);
  return found;
}

/* obj.name as watch_dep_on_attr() sees it: the MRO lookup for a class, the
 * module's __dict__ for a module.  A new reference, or NULL. */
static PyObject *
attr_lookup_at(const char *file, int line, PyObject *obj, const char *name)
{
  if (PyType_Check(obj))
    return mro_lookup_at(file, line, obj, name);
  ck_assert(PyModule_Check(obj));
  PyObject *v = PyDict_GetItemWithError(PyModule_GetDict(obj), key(name));
  if (v == NULL && PyErr_Occurred())
    harness_fail_python(file, line, "a module dict lookup");
  Py_XINCREF(v);
  return v;
}
#define MRO_LOOKUP(cls, name) mro_lookup_at(__FILE__, __LINE__, (cls), (name))

/* p depends on obj.name being what it is now (absent included). */
#define DEPEND_ATTR(p, obj, name)                                             \
  do {                                                                        \
    PyObject *v_ = attr_lookup_at(__FILE__, __LINE__, (obj), (name));         \
    int e_ = watch_dep_on_attr((p)->dep, (obj), key(name), v_);               \
    ck_assert_msg(e_ == 0, "watch_dep_on_attr(%s) = %d (%s)", (name), e_,     \
                  harness_err(e_));                                           \
    Py_XDECREF(v_);                                                           \
  } while (0)

/* Invalidated once by a key event of this kind naming name; the namespace is
 * not checked, the header does not say which object a class event names. */
#define assert_invalidated_by_key(p, kind_, name)                             \
  do {                                                                        \
    assert_invalidated(p, kind_, NULL);                                       \
    assert_key(p, name);                                                      \
  } while (0)

/* Invalidated once, by an event of one of two kinds. */
#define assert_invalidated_by_either(p, k1, k2)                               \
  do {                                                                        \
    assert_invalidated_once(p);                                               \
    ck_assert_msg((p)->rec.kind == (k1) || (p)->rec.kind == (k2),             \
                  "event %s, expected %s or %s",                              \
                  harness_event_name((p)->rec.kind), harness_event_name(k1),  \
                  harness_event_name(k2));                                    \
  } while (0)

/* watch_dep_on_attr() failed with err and left p as it was. */
#define ASSERT_ATTR_FAILS(p, obj, name, assumed, err)                         \
  do {                                                                        \
    int e_ = watch_dep_on_attr((p)->dep, (obj), (name), (assumed));           \
    ck_assert_msg(e_ == (err), "watch_dep_on_attr() = %d (%s), expected %s",  \
                  e_, harness_err(e_), harness_err(err));                     \
    assert_no_python_error();                                                 \
  } while (0)

/* ------------------------------------------------------------------------ */
/* The MRO lookup, validated at install                                     */

START_TEST(attr_defined_on_the_class_registers_with_its_dict_entry)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *assumed = EVAL(g, "Base.__dict__['m']");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "Base"), key("m"),
                                     assumed),
                   0);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_inherited_from_a_base_registers_with_the_base_s_dict_entry)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *assumed = EVAL(g, "Base.__dict__['m']");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "Mid"), key("m"),
                                     assumed),
                   0);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_inherited_from_a_base_of_a_base_registers_with_its_dict_entry)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *assumed = EVAL(g, "Base.__dict__['m']");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "Sub"), key("m"),
                                     assumed),
                   0);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_absent_from_the_whole_mro_registers_as_null)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "Sub"), key("absent"),
                                     NULL),
                   0);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_install_fails_stale_unless_assumed_is_what_the_mro_holds)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *sub = ITEM(g, "Sub");
  PyObject *other_m = EVAL(g, "Other.__dict__['m']");
  PyObject *own = EVAL(g, "Sub.__dict__['own']");
  PROBE(p);

  ASSERT_ATTR_FAILS(p, sub, key("m"), other_m, WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, sub, key("m"), NULL, WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, sub, key("own"), NULL, WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, sub, key("absent"), other_m, WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, sub, key("m"), own, WATCH_ESTALE);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(own);
  Py_DECREF(other_m);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_install_fails_stale_with_a_value_a_descriptor_produced)
{
  PyObject *g = NS("class K:\n"
                   "    @classmethod\n"
                   "    def cm(cls):\n"
                   "        pass\n"
                   "    @staticmethod\n"
                   "    def sm():\n"
                   "        pass\n"
                   "bound = K.cm\n"                 /* a bound method */
                   "plain = K.sm\n"                 /* the wrapped function */
                   "assert bound is not K.__dict__['cm']\n"
                   "assert plain is not K.__dict__['sm']\n");
  PyObject *k = ITEM(g, "K");
  PROBE(p);

  ASSERT_ATTR_FAILS(p, k, key("cm"), ITEM(g, "bound"), WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, k, key("sm"), ITEM(g, "plain"), WATCH_ESTALE);
  assert_intact(p);
  DEPEND_ATTR(p, k, "cm");
  DEPEND_ATTR(p, k, "sm");

  RUN(g, "K.sm = staticmethod(len)\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "sm");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_install_fails_stale_with_a_base_value_a_subclass_overrides)
{
  PyObject *g = NS(CLASSES_SRC "class Override(Base):\n"
                               "    def m(self):\n"
                               "        return 'Override.m'\n");
  PyObject *base_m = EVAL(g, "Base.__dict__['m']");
  PROBE(p);

  ASSERT_ATTR_FAILS(p, ITEM(g, "Override"), key("m"), base_m, WATCH_ESTALE);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(base_m);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_lookup_does_not_search_the_metaclass)
{
  PyObject *g = NS("class Meta(type):\n"
                   "    def mm(cls):\n"
                   "        return 'Meta.mm'\n"
                   "class K(metaclass=Meta):\n"
                   "    pass\n"
                   "assert K.mm() == 'Meta.mm'\n"); /* getattr finds it */
  PyObject *k = ITEM(g, "K");
  PyObject *meta_mm = EVAL(g, "Meta.__dict__['mm']");
  PROBE(p);

  ASSERT_ATTR_FAILS(p, k, key("mm"), meta_mm, WATCH_ESTALE);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, k, key("mm"), NULL), 0);

  RUN(g, "K.mm = 1\n");

  assert_invalidated_by_key(p, WATCH_EVENT_ADDED, "mm");
  probe_release(p);
  Py_DECREF(meta_mm);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_failed_attr_registration_leaves_the_dependent_as_it_was)
{
  PyObject *g = NS(CLASSES_SRC "d = {'x': 1}\n");
  PyObject *d = ITEM(g, "d");
  PyObject *other_m = EVAL(g, "Other.__dict__['m']");
  PROBE(p);
  DEPEND(p, d, "x");
  watch_counters_t before = COUNTERS();

  ASSERT_ATTR_FAILS(p, ITEM(g, "Sub"), key("m"), other_m, WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, ITEM(g, "Sub"), PyLong_FromLong(7), NULL, WATCH_EINVAL);
  ASSERT_COUNTER(edges, ==, before.edges);
  RUN(g, "Base.m = replacement\n"
         "del Base.m\n"
         "Sub.m = replacement\n");
  assert_intact(p);

  RUN(g, "d['x'] = 2\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(other_m);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_name_that_is_not_interned_is_matched_by_value)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *inherited = PyUnicode_FromString("other");
  PyObject *own = PyUnicode_FromString("own");
  ck_assert_ptr_nonnull(inherited);
  ck_assert_ptr_nonnull(own);
  ck_assert(!PyUnicode_CHECK_INTERNED(inherited));
  ck_assert(!PyUnicode_CHECK_INTERNED(own));
  PyObject *other_value = EVAL(g, "Base.__dict__['other']");
  PyObject *own_value = EVAL(g, "Sub.__dict__['own']");
  PROBE(on_other);
  PROBE(on_own);

  ck_assert_int_eq(watch_dep_on_attr(on_other->dep, ITEM(g, "Sub"), inherited,
                                     other_value),
                   0);
  ck_assert_int_eq(watch_dep_on_attr(on_own->dep, ITEM(g, "Sub"), own,
                                     own_value),
                   0);
  RUN(g, "Base.other = 1\n"
         "Sub.own = 2\n");

  assert_invalidated_by_key(on_other, WATCH_EVENT_MODIFIED, "other");
  assert_invalidated_by_key(on_own, WATCH_EVENT_MODIFIED, "own");
  probe_release(on_other);
  probe_release(on_own);
  Py_DECREF(own_value);
  Py_DECREF(other_value);
  Py_DECREF(own);
  Py_DECREF(inherited);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* What invalidates a class attribute                                       */

START_TEST(writing_the_name_on_the_class_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Base"), "m");

  RUN(g, "Base.m = replacement\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(writing_the_name_on_the_base_that_defines_it_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(on_sub);
  PROBE(on_mid);
  DEPEND_ATTR(on_sub, ITEM(g, "Sub"), "m");
  DEPEND_ATTR(on_mid, ITEM(g, "Mid"), "m");

  RUN(g, "Base.m = replacement\n");

  assert_invalidated_by_key(on_sub, WATCH_EVENT_MODIFIED, "m");
  assert_invalidated_by_key(on_mid, WATCH_EVENT_MODIFIED, "m");
  probe_release(on_sub);
  probe_release(on_mid);
  Py_DECREF(g);
}
END_TEST

START_TEST(setattr_of_the_name_on_a_base_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "setattr(Base, 'm', replacement)\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(defining_the_name_on_an_intermediate_class_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "Mid.m = replacement\n"
         "assert Sub.m is replacement\n");

  assert_invalidated_by_key(p, WATCH_EVENT_ADDED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(defining_an_inherited_name_on_the_class_itself_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "Sub.m = replacement\n");

  assert_invalidated_by_key(p, WATCH_EVENT_ADDED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(deleting_the_name_from_the_class_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "own");

  RUN(g, "del Sub.own\n");

  assert_invalidated_by_key(p, WATCH_EVENT_DELETED, "own");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(deleting_the_name_from_the_base_that_defines_it_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "del Base.m\n");

  assert_invalidated_by_key(p, WATCH_EVENT_DELETED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(assigning_bases_of_the_class_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "C"), "m");

  RUN(g, "C.__bases__ = (B,)\n"
         "assert C.m is B.__dict__['m']\n");

  assert_invalidated(p, WATCH_EVENT_TYPE, NULL);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(assigning_bases_of_a_base_of_the_class_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "Mid.__bases__ = (Other,)\n"
         "assert Sub.m is Other.__dict__['m']\n");

  assert_invalidated(p, WATCH_EVENT_TYPE, NULL);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(assigning_bases_invalidates_an_absent_name_the_new_base_defines)
{
  PyObject *g = NS(CLASSES_SRC "class Empty:\n"
                               "    pass\n"
                               "class D(Empty):\n"
                               "    pass\n");
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "D"), "m"); /* absent */

  RUN(g, "D.__bases__ = (A,)\n");

  assert_invalidated(p, WATCH_EVENT_TYPE, NULL);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_raw_write_to_the_class_dict_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Base"), "m");

  RUN(g, "raw_dict(Base)['m'] = replacement\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_raw_write_to_the_dict_of_the_defining_base_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "raw_dict(Base)['m'] = replacement\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_raw_write_shadowing_the_name_in_an_intermediate_dict_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "raw_dict(Mid)['m'] = replacement\n");

  assert_invalidated_by_key(p, WATCH_EVENT_ADDED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_raw_delete_from_the_class_dict_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "own");

  RUN(g, "del raw_dict(Sub)['own']\n");

  assert_invalidated_by_key(p, WATCH_EVENT_DELETED, "own");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

/* An absent name, added to each class of the MRO in turn (loop test). */
static const char *const adding_an_absent_name[] = {
  "Sub.absent = 1\n",
  "Mid.absent = 1\n",
  "Base.absent = 1\n",
  "setattr(Base, 'absent', 1)\n",
  "raw_dict(Sub)['absent'] = 1\n",
  "raw_dict(Base)['absent'] = 1\n",
};

START_TEST(adding_an_absent_name_to_any_class_of_the_mro_invalidates)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "absent");

  RUN(g, adding_an_absent_name[_i]);

  assert_invalidated_by_key(p, WATCH_EVENT_ADDED, "absent");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_name_inherited_from_object_is_invalidated_when_a_class_defines_it)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *object_repr = PY("object.__dict__['__repr__']");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "Sub"), key("__repr__"),
                                     object_repr),
                   0);

  RUN(g, "Mid.__repr__ = lambda self: 'Mid'\n");

  assert_invalidated_by_key(p, WATCH_EVENT_ADDED, "__repr__");
  probe_release(p);
  Py_DECREF(object_repr);
  Py_DECREF(g);
}
END_TEST

START_TEST(dependents_on_one_attr_through_several_classes_are_all_invalidated)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(on_base);
  PROBE(on_mid);
  PROBE(on_sub);
  PROBE(on_sibling);
  PROBE(also_on_sub);
  DEPEND_ATTR(on_base, ITEM(g, "Base"), "m");
  DEPEND_ATTR(on_mid, ITEM(g, "Mid"), "m");
  DEPEND_ATTR(on_sub, ITEM(g, "Sub"), "m");
  DEPEND_ATTR(on_sibling, ITEM(g, "Sibling"), "m");
  DEPEND_ATTR(also_on_sub, ITEM(g, "Sub"), "m");

  RUN(g, "Base.m = replacement\n");

  assert_invalidated_by_key(on_base, WATCH_EVENT_MODIFIED, "m");
  assert_invalidated_by_key(on_mid, WATCH_EVENT_MODIFIED, "m");
  assert_invalidated_by_key(on_sub, WATCH_EVENT_MODIFIED, "m");
  assert_invalidated_by_key(on_sibling, WATCH_EVENT_MODIFIED, "m");
  assert_invalidated_by_key(also_on_sub, WATCH_EVENT_MODIFIED, "m");
  Py_DECREF(g);
}
END_TEST

START_TEST(a_dependent_on_several_attrs_is_invalidated_once)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");
  DEPEND_ATTR(p, ITEM(g, "Sub"), "own");
  DEPEND_ATTR(p, ITEM(g, "C"), "m");

  RUN(g, "Base.m = replacement\n"
         "Sub.own = 2\n"
         "C.__bases__ = (B,)\n"
         "del Sub.own\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "m");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(reregistering_after_an_invalidation_sees_the_next_change)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *sub = ITEM(g, "Sub");
  PROBE(p);
  DEPEND_ATTR(p, sub, "m");
  RUN(g, "Base.m = replacement\n");
  assert_invalidated_once(p);
  probe_release(p);
  PROBE(q);
  DEPEND_ATTR(q, sub, "m");

  RUN(g, "Mid.m = len\n");

  assert_invalidated_by_key(q, WATCH_EVENT_ADDED, "m");
  probe_release(q);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Before the write completes                                               */

/* What the class's own dict holds for 'm' (identity). */
static const void *
peek_class_m(PyObject *cls)
{
  static PyObject *m;
  if (m == NULL)
    m = key("m"); /* interned before any callback: see the tests below */
  PyObject *dict = PyType_GetDict((PyTypeObject *)cls);
  const void *v = dict ? PyDict_GetItemWithError(dict, m) : NULL;
  Py_XDECREF(dict);
  return v;
}

START_TEST(a_class_attr_is_invalid_before_the_write_and_called_after_it)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *base = ITEM(g, "Base");
  PyObject *old = EVAL(g, "Base.__dict__['m']");
  PyObject *dict = PyType_GetDict((PyTypeObject *)base);
  (void)peek_class_m(base);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");
  p->rec.peek_fn = peek_class_m;
  p->rec.peek_obj = base;
  WITNESS(p, dict, peek_class_m, base);

  RUN(g, "Base.m = replacement\n");

  assert_invalidated_once(p);
  assert_witnessed_before(old);
  ck_assert_msg(p->rec.peeked == ITEM(g, "replacement"),
                "the callback must see Base.m replaced");
  probe_release(p);
  Py_DECREF(dict);
  Py_DECREF(old);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_builtin_based_class_attr_is_invalid_before_the_write_and_called_after_it)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PyObject *e = ITEM(g, "E");
  PyObject *old = EVAL(g, "E.__dict__['m']");
  PyObject *dict = PyType_GetDict((PyTypeObject *)e);
  (void)peek_class_m(e);
  PROBE(p);
  DEPEND_ATTR(p, e, "m");
  p->rec.peek_fn = peek_class_m;
  p->rec.peek_obj = e;
  WITNESS(p, dict, peek_class_m, e);

  RUN(g, "E.m = replacement\n");

  assert_invalidated_once(p);
  assert_witnessed_before(old);
  ck_assert_msg(p->rec.peeked == ITEM(g, "replacement"),
                "the callback must see E.m replaced");
  probe_release(p);
  Py_DECREF(dict);
  Py_DECREF(old);
  Py_DECREF(g);
}
END_TEST

/* A C function that tells Python code whether witness_probe is still valid:
 * no Python code may run while a dependent is valid and its assumption
 * broken. */
static probe_t *witness_probe;

static PyObject *
witness_valid(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  return PyBool_FromLong(witness_probe != NULL && witness_probe->dep != NULL
                         && watch_dep_valid(witness_probe->dep));
}

static PyMethodDef witness_def = { "witness", witness_valid, METH_NOARGS,
                                   NULL };

/* cls.__bases__ = ... runs a subclass's metaclass mro() in Python after
 * cls's own MRO has changed.  Each run logs whether the dependent on
 * cls.name was still valid although the MRO lookup no longer gave old. */
#define BASES_WITNESS_SRC(cls, name)                                          \
  "log = []\n"                                                                \
  "armed = False\n"                                                           \
  "old = next(c.__dict__['" name "'] for c in " cls ".__mro__\n"              \
  "           if '" name "' in c.__dict__)\n"                                 \
  "class WitnessMeta(type):\n"                                                \
  "    def mro(k):\n"                                                         \
  "        if armed:\n"                                                       \
  "            now = next(c.__dict__['" name "'] for c in " cls ".__mro__\n"  \
  "                       if '" name "' in c.__dict__)\n"                     \
  "            log.append((witness(), now is not old))\n"                     \
  "        return super().mro()\n"                                            \
  "class WitnessSub(" cls ", metaclass=WitnessMeta):\n"                       \
  "    pass\n"

static void
check_bases_witness(PyObject *g)
{
  PyObject *n = EVAL(g, "len(log)");
  ck_assert_msg(PyLong_AsLong(n) > 0, "the subclass's mro() never ran");
  Py_DECREF(n);
  PyObject *stale = EVAL(g, "[e for e in log if e[0] and e[1]]");
  ck_assert_msg(PyList_GET_SIZE(stale) == 0,
                "Python code ran with a valid dependent after __bases__ "
                "assignment had changed the MRO lookup");
  Py_DECREF(stale);
}

/* The documented limit: CPython calls a subclass's metaclass mro() in the
 * middle of C.__bases__ = ..., after C's MRO has changed and before C leaves
 * its old bases' registries, so that mro() may see the dependent valid.  It
 * is invalid by the time the assignment returns. */
START_TEST(bases_assignment_running_a_subclass_mro_invalidates_before_returning)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *w = PyCFunction_New(&witness_def, NULL);
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(PyDict_SetItemString(g, "witness", w), 0);
  Py_DECREF(w);
  RUN(g, BASES_WITNESS_SRC("C", "m"));
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "C"), "m");
  witness_probe = p;

  RUN(g, "armed = True\n"
         "C.__bases__ = (B,)\n"
         "armed = False\n"
         "assert log, 'the subclass mro() never ran'\n"
         "assert not witness(), 'valid after __bases__ assignment returned'\n");

  witness_probe = NULL;
  assert_invalidated_once(p);
  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_TYPE);
  ck_assert_ptr_eq(p->rec.ns, ITEM(g, "C"));
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(
    no_python_code_sees_a_valid_builtin_based_dependent_after_bases_changed)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PyObject *w = PyCFunction_New(&witness_def, NULL);
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(PyDict_SetItemString(g, "witness", w), 0);
  Py_DECREF(w);
  RUN(g, BASES_WITNESS_SRC("E", "__str__"));
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "E"), "__str__"); /* BaseException's */
  witness_probe = p;

  /* KeyError has its own __str__. */
  RUN(g, "armed = True\n"
         "E.__bases__ = (KeyError,)\n"
         "armed = False\n"
         "assert E.__str__ is KeyError.__dict__['__str__']\n");

  witness_probe = NULL;
  assert_invalidated_once(p);
  check_bases_witness(g);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Precision: what does not invalidate a class attribute                    */

START_TEST(writing_another_name_on_a_base_does_not_invalidate)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "m");

  RUN(g, "Base.other = 1\n"
         "Base.brand_new = 2\n"
         "del Base.other\n"
         "Mid.x = 3\n"
         "raw_dict(Base)['y'] = 4\n");

  assert_intact(p);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(writing_another_name_on_the_class_does_not_invalidate)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(on_base_m);
  PROBE(on_sub_own);
  DEPEND_ATTR(on_base_m, ITEM(g, "Base"), "m");
  DEPEND_ATTR(on_sub_own, ITEM(g, "Sub"), "own");

  RUN(g, "Base.x = 1\n"
         "Base.x = 2\n"
         "del Base.x\n"
         "Sub.x = 1\n"
         "raw_dict(Sub)['y'] = 2\n");

  assert_intact(on_base_m);
  assert_intact(on_sub_own);
  probe_release(on_base_m);
  probe_release(on_sub_own);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_metaclass_attribute_write_does_not_invalidate)
{
  PyObject *g = NS("class Meta(type):\n"
                   "    pass\n"
                   "class K(metaclass=Meta):\n"
                   "    def m(self):\n"
                   "        return 'K.m'\n");
  PROBE(on_m);
  PROBE(on_absent);
  DEPEND_ATTR(on_m, ITEM(g, "K"), "m");
  DEPEND_ATTR(on_absent, ITEM(g, "K"), "absent");

  RUN(g, "Meta.m = lambda cls: 'Meta.m'\n"
         "Meta.absent = 1\n"
         "Meta.m = 2\n"
         "del Meta.m\n");

  assert_intact(on_m);
  assert_intact(on_absent);
  probe_release(on_m);
  probe_release(on_absent);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_subclass_defining_the_name_does_not_invalidate)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(on_base);
  PROBE(on_mid);
  DEPEND_ATTR(on_base, ITEM(g, "Base"), "m");
  DEPEND_ATTR(on_mid, ITEM(g, "Mid"), "m");

  RUN(g, "Sub.m = replacement\n"
         "Sibling.m = replacement\n");

  assert_intact(on_base);
  assert_intact(on_mid);
  probe_release(on_base);
  probe_release(on_mid);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_write_beyond_the_defining_class_does_not_invalidate)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "Sub"), "own"); /* defined on Sub itself */

  RUN(g, "Base.own = 1\n"
         "Mid.own = 2\n"
         "del Mid.own\n"
         "assert Sub.own == 'Sub.own'\n");

  assert_intact(p);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(assigning_bases_of_an_unrelated_class_does_not_invalidate)
{
  PyObject *g = NS(CLASSES_SRC "class D(A):\n"
                               "    pass\n");
  PROBE(on_c);
  PROBE(on_sub);
  DEPEND_ATTR(on_c, ITEM(g, "C"), "m");
  DEPEND_ATTR(on_sub, ITEM(g, "Sub"), "m");

  RUN(g, "D.__bases__ = (B,)\n"
         "Sibling.__bases__ = (Other,)\n");

  assert_intact(on_c);
  assert_intact(on_sub);
  probe_release(on_c);
  probe_release(on_sub);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Classes modified many times                                              */

START_TEST(a_class_modified_1500_times_accepts_a_dependent_that_sees_a_change)
{
  PyObject *g = NS(CLASSES_SRC "for i in range(1500):\n"
                               "    Sub.x = i\n");
  PyObject *sub = ITEM(g, "Sub");
  PROBE(p);
  DEPEND_ATTR(p, sub, "own");

  RUN(g, "Sub.own = 'new'\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "own");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_class_modified_and_looked_up_1500_times_accepts_a_dependent)
{
  PyObject *g = NS(CLASSES_SRC MODIFY_1500_TIMES("Sub"));
  PyObject *sub = ITEM(g, "Sub");
  PROBE(p);
  DEPEND_ATTR(p, sub, "own");

  RUN(g, "Sub.own = 'new'\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "own");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

/* After 1500 modifications (and lookups) of a class, a registration on it
 * either fails WATCH_EUNSTABLE or gives a dependent that sees each of these
 * changes (loop test). */
static const char *const change_after_1500[] = {
  "C.m = replacement\n",
  "C.__bases__ = (B,)\n",
  "A.m = replacement\n",
  "raw_dict(C)['m'] = replacement\n",
};

START_TEST(a_class_modified_1500_times_never_gives_a_dependent_that_misses_a_change)
{
  PyObject *g = NS(CLASSES_SRC MODIFY_1500_TIMES("C"));
  PyObject *c = ITEM(g, "C");
  PyObject *assumed = MRO_LOOKUP(c, "m");
  PROBE(p);

  int err = watch_dep_on_attr(p->dep, c, key("m"), assumed);
  ck_assert_msg(err == 0 || err == WATCH_EUNSTABLE,
                "watch_dep_on_attr() = %d (%s)", err, harness_err(err));
  RUN(g, change_after_1500[_i]);

  if (err == 0)
    assert_invalidated_once(p);
  else
    assert_intact(p);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_base_modified_1500_times_never_gives_a_dependent_that_misses_bases)
{
  PyObject *g = NS(CLASSES_SRC MODIFY_1500_TIMES("Mid"));
  PyObject *sub = ITEM(g, "Sub");
  PyObject *assumed = MRO_LOOKUP(sub, "m");
  PROBE(p);

  int err = watch_dep_on_attr(p->dep, sub, key("m"), assumed);
  ck_assert_msg(err == 0 || err == WATCH_EUNSTABLE,
                "watch_dep_on_attr() = %d (%s)", err, harness_err(err));
  RUN(g, "Mid.__bases__ = (Other,)\n");

  if (err == 0)
    assert_invalidated_once(p);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_dependent_that_outlives_1500_modifications_never_misses_bases)
{
  PyObject *g = NS(CLASSES_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "C"), "m");

  RUN(g, MODIFY_1500_TIMES("C"));
  int count = p->rec.count;
  RUN(g, "C.__bases__ = (B,)\n");

  /* Either libwatch gave up on the class during the 1500 modifications,
   * saying so, or it still sees the assignment. */
  assert_invalidated_once(p);
  if (count == 1)
    ck_assert_msg(p->rec.kind == WATCH_EVENT_UNSTABLE
                      || p->rec.kind == WATCH_EVENT_TYPE,
                  "writes of C.x invalidated C.m with %s",
                  harness_event_name(p->rec.kind));
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_name_modified_1500_times_is_unstable)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *sub = ITEM(g, "Sub");
  PROBE(p);
  DEPEND_ATTR(p, sub, "own");

  RUN(g, "for i in range(1500):\n"
         "    Sub.own = i\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "own");
  probe_release(p);
  PROBE(q);
  PyObject *now = MRO_LOOKUP(sub, "own");
  ASSERT_ATTR_FAILS(q, sub, key("own"), now, WATCH_EUNSTABLE);
  assert_intact(q);
  /* Another name of the class stays usable. */
  DEPEND_ATTR(q, sub, "m");
  RUN(g, "Base.m = replacement\n");
  assert_invalidated_by_key(q, WATCH_EVENT_MODIFIED, "m");
  probe_release(q);
  Py_DECREF(now);
  Py_DECREF(g);
}
END_TEST

START_TEST(an_inherited_name_modified_1500_times_on_the_base_is_unstable)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *sub = ITEM(g, "Sub");
  PROBE(p);
  DEPEND_ATTR(p, sub, "m");

  RUN(g, "for i in range(1500):\n"
         "    Base.m = i\n");

  assert_invalidated_by_key(p, WATCH_EVENT_MODIFIED, "m");
  probe_release(p);
  PROBE(q);
  PyObject *now = MRO_LOOKUP(sub, "m");
  ASSERT_ATTR_FAILS(q, sub, key("m"), now, WATCH_EUNSTABLE);
  assert_intact(q);
  probe_release(q);
  Py_DECREF(now);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Classes whose bases are all builtins other than object                    */

START_TEST(builtin_based_class_attr_is_invalidated_by_writing_the_name)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "E"), "m");

  RUN(g, "E.m = replacement\n");

  assert_invalidated_by_either(p, WATCH_EVENT_MODIFIED, WATCH_EVENT_TYPE);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(builtin_based_class_attr_is_invalidated_by_deleting_the_name)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "E"), "m");

  RUN(g, "del E.m\n");

  assert_invalidated_by_either(p, WATCH_EVENT_DELETED, WATCH_EVENT_TYPE);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(builtin_based_class_attr_is_invalidated_by_a_raw_write)
{
  PyObject *g = NS(BUILTIN_BASED_SRC "import gc\n"
                                     "d = [x for x in gc.get_referents(\n"
                                     "     E.__dict__) if type(x) is dict][0]\n");
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "E"), "m");

  RUN(g, "d['m'] = replacement\n");

  assert_invalidated_by_either(p, WATCH_EVENT_MODIFIED, WATCH_EVENT_TYPE);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(builtin_based_class_attr_is_invalidated_by_assigning_bases)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PROBE(on_m);
  PROBE(on_str);
  DEPEND_ATTR(on_m, ITEM(g, "E"), "m");
  DEPEND_ATTR(on_str, ITEM(g, "E"), "__str__"); /* BaseException's */

  RUN(g, "E.__bases__ = (ValueError,)\n");

  assert_invalidated(on_m, WATCH_EVENT_TYPE, NULL);
  assert_invalidated(on_str, WATCH_EVENT_TYPE, NULL);
  probe_release(on_m);
  probe_release(on_str);
  Py_DECREF(g);
}
END_TEST

START_TEST(builtin_based_class_attr_is_invalidated_by_writing_another_name)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "E"), "m");

  RUN(g, "E.other = 1\n");

  assert_invalidated_by_either(p, WATCH_EVENT_TYPE, WATCH_EVENT_ADDED);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(builtin_based_class_attr_is_invalidated_by_defining_an_inherited_name)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "E"), "__str__"); /* BaseException's */

  RUN(g, "E.__str__ = lambda self: 'E'\n");

  assert_invalidated_by_either(p, WATCH_EVENT_TYPE, WATCH_EVENT_ADDED);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

static const char *const builtin_based_change[] = {
  "E.m = replacement\n",
  "E.other = 1\n",
  "E.__bases__ = (ValueError,)\n",
  "del E.m\n",
};

START_TEST(builtin_based_class_with_a_custom_mro_is_refused_as_unstable)
{
  /* A metaclass with its own mro() makes CPython drop the class's version
   * tag inside __bases__ assignment without notifying type watchers. */
  PyObject *g = NS("class CustomMro(type):\n"
                   "    def mro(cls):\n"
                   "        return super().mro()\n"
                   "class E(Exception, metaclass=CustomMro):\n"
                   "    pass\n");
  PyObject *e = ITEM(g, "E");
  PyObject *assumed = MRO_LOOKUP(e, "__str__"); /* BaseException's */
  PROBE(p);

  ASSERT_ATTR_FAILS(p, e, key("__str__"), assumed, WATCH_EUNSTABLE);

  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(builtin_based_class_whose_metaclass_gains_an_mro_is_invalidated)
{
  PyObject *g = NS("class Meta(type):\n"
                   "    pass\n"
                   "class E(Exception, metaclass=Meta):\n"
                   "    pass\n");
  PyObject *e = ITEM(g, "E");
  PyObject *assumed = MRO_LOOKUP(e, "__str__"); /* BaseException's */
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, e, key("__str__"), assumed), 0);

  RUN(g, "Meta.mro = lambda cls: type.mro(cls)\n");

  assert_invalidated_once(p);
  ASSERT_ATTR_FAILS(p, e, key("__str__"), assumed, WATCH_EINVALIDATED);
  probe_release(p);
  PROBE(q);
  ASSERT_ATTR_FAILS(q, e, key("__str__"), assumed, WATCH_EUNSTABLE);
  probe_release(q);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_pending_exception_survives_a_type_event)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PyObject *e = ITEM(g, "E");
  PROBE(p);
  DEPEND_ATTR(p, e, "m");

  PyErr_SetString(PyExc_RuntimeError, "pending");
  PyType_Modified((PyTypeObject *)e); /* the type watcher, exception set */

  ck_assert_msg(PyErr_ExceptionMatches(PyExc_RuntimeError),
                "the pending exception was lost or replaced");
  PyObject *exc = PyErr_GetRaisedException();
  PyObject *msg = PyObject_Str(exc);
  ck_assert_str_eq(PyUnicode_AsUTF8(msg), "pending");
  Py_DECREF(msg);
  Py_DECREF(exc);
  assert_invalidated(p, WATCH_EVENT_TYPE, NULL);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

static int
quiet_type_watcher(PyTypeObject *type)
{
  (void)type;
  return 0;
}

START_TEST(builtin_based_registration_fails_busy_when_no_type_watcher_id_is_free)
{
  PyObject *g = NS(CLASSES_SRC BUILTIN_BASED_SRC);
  int ids[16];
  int n = 0;
  while (n < 16) {
    int id = PyType_AddWatcher(quiet_type_watcher);
    if (id < 0) {
      PyErr_Clear();
      break;
    }
    ids[n++] = id;
  }
  ck_assert_int_gt(n, 0);
  PyObject *e = ITEM(g, "E");
  PyObject *assumed = MRO_LOOKUP(e, "m");
  PROBE(on_e);
  PROBE(on_sub);

  int err = watch_dep_on_attr(on_e->dep, e, key("m"), assumed);
  /* A class with heap bases needs no type watcher. */
  PyObject *sub_m = MRO_LOOKUP(ITEM(g, "Sub"), "m");
  int err_sub = watch_dep_on_attr(on_sub->dep, ITEM(g, "Sub"), key("m"), sub_m);

  for (int i = 0; i < n; i++)
    ck_assert_int_eq(PyType_ClearWatcher(ids[i]), 0);
  ck_assert_msg(err == WATCH_EBUSY, "watch_dep_on_attr(E) = %d (%s)", err,
                harness_err(err));
  ck_assert_msg(err_sub == 0, "watch_dep_on_attr(Sub) = %d (%s)", err_sub,
                harness_err(err_sub));
  assert_no_python_error();
  assert_intact(on_e);
  DEPEND_ATTR(on_e, e, "m");
  RUN(g, "E.other = 1\n"
         "Base.m = replacement\n");
  assert_invalidated_once(on_e);
  assert_invalidated_by_key(on_sub, WATCH_EVENT_MODIFIED, "m");
  probe_release(on_e);
  probe_release(on_sub);
  Py_DECREF(sub_m);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_builtin_based_class_modified_1500_times_never_gives_a_dependent_that_misses_a_change)
{
  PyObject *g = NS(BUILTIN_BASED_SRC MODIFY_1500_TIMES("E"));
  PyObject *e = ITEM(g, "E");
  PyObject *assumed = MRO_LOOKUP(e, "m");
  PROBE(p);

  int err = watch_dep_on_attr(p->dep, e, key("m"), assumed);
  ck_assert_msg(err == 0 || err == WATCH_EUNSTABLE,
                "watch_dep_on_attr() = %d (%s)", err, harness_err(err));
  RUN(g, builtin_based_change[_i]);

  if (err == 0)
    assert_invalidated_once(p);
  else
    assert_intact(p);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_builtin_based_class_modified_1500_times_without_lookups_never_misses)
{
  PyObject *g = NS(BUILTIN_BASED_SRC "for i in range(1500):\n"
                                     "    E.x = i\n");
  PyObject *e = ITEM(g, "E");
  PyObject *assumed = MRO_LOOKUP(e, "m");
  PROBE(p);

  int err = watch_dep_on_attr(p->dep, e, key("m"), assumed);
  ck_assert_msg(err == 0 || err == WATCH_EUNSTABLE,
                "watch_dep_on_attr() = %d (%s)", err, harness_err(err));
  RUN(g, builtin_based_change[_i]);

  if (err == 0)
    assert_invalidated_once(p);
  else
    assert_intact(p);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(assumed);
  Py_DECREF(g);
}
END_TEST

START_TEST(builtin_based_dependents_registered_one_after_another_each_see_a_change)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PyObject *e = ITEM(g, "E");
  /* The class is re-armed after each change; each new dependent must see
   * the next one, whatever it is. */
  for (int i = 0; i < 20; i++) {
    PROBE(p);
    DEPEND_ATTR(p, e, "m");
    RUN(g, (i % 2) ? "E.other = len\n" : "E.other = abs\n");
    assert_invalidated_once(p);
    probe_release(p);
  }
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Classes that die                                                         */

START_TEST(a_class_that_dies_invalidates_its_dependents)
{
  PyObject *g = NS(CLASSES_SRC "r = weakref.ref(Sub)\n");
  PyObject *sub = ITEM(g, "Sub");
  PROBE(on_own);
  PROBE(on_m);
  PROBE(on_absent);
  DEPEND_ATTR(on_own, sub, "own");
  DEPEND_ATTR(on_m, sub, "m");
  DEPEND_ATTR(on_absent, sub, "absent");
  sub = NULL;

  RUN(g, "del Sub\n"
         "gc.collect()\n"
         "assert r() is None, 'Sub is still alive'\n");

  assert_invalidated_once(on_own);
  assert_invalidated_once(on_m);
  assert_invalidated_once(on_absent);
  RUN(g, "Base.m = replacement\n"
         "Base.absent = 1\n"
         "Mid.__bases__ = (Other,)\n");
  ck_assert_int_eq(on_m->rec.count, 1);
  ck_assert_int_eq(on_absent->rec.count, 1);
  probe_release(on_own);
  probe_release(on_m);
  probe_release(on_absent);
  RUN(g, "Other.m = replacement\n"
         "del Mid\n"
         "gc.collect()\n");
  Py_DECREF(g);
}
END_TEST

START_TEST(a_builtin_based_class_that_dies_invalidates_its_dependents)
{
  PyObject *g = NS(BUILTIN_BASED_SRC "import gc, weakref\n"
                                     "r = weakref.ref(E)\n");
  PROBE(on_m);
  PROBE(on_str);
  DEPEND_ATTR(on_m, ITEM(g, "E"), "m");
  DEPEND_ATTR(on_str, ITEM(g, "E"), "__str__");

  RUN(g, "del E\n"
         "gc.collect()\n"
         "assert r() is None, 'E is still alive'\n");

  assert_invalidated_once(on_m);
  assert_invalidated_once(on_str);
  probe_release(on_m);
  probe_release(on_str);
  RUN(g, "class E2(Exception):\n"
         "    pass\n"
         "E2.x = 1\n");
  Py_DECREF(g);
}
END_TEST

START_TEST(dependents_released_before_their_class_dies_are_not_called)
{
  PyObject *g = NS(CLASSES_SRC "r = weakref.ref(Sub)\n");
  PyObject *sub = ITEM(g, "Sub");
  PROBE(on_own);
  PROBE(on_m);
  PROBE(kept);
  DEPEND_ATTR(on_own, sub, "own");
  DEPEND_ATTR(on_m, sub, "m");
  DEPEND_ATTR(kept, ITEM(g, "Base"), "m");
  sub = NULL;
  probe_release(on_own);
  probe_release(on_m);

  RUN(g, "del Sub\n"
         "gc.collect()\n"
         "assert r() is None, 'Sub is still alive'\n");

  ck_assert_int_eq(on_own->rec.count, 0);
  ck_assert_int_eq(on_m->rec.count, 0);
  assert_intact(kept);
  RUN(g, "Base.m = replacement\n");
  assert_invalidated_by_key(kept, WATCH_EVENT_MODIFIED, "m");
  probe_release(kept);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Static builtin types                                                     */

START_TEST(attr_lookup_gives_what_a_dependency_assumes)
{
  PyObject *g = NS(CLASSES_SRC "import types\n"
                               "mod = types.ModuleType('mod')\n");
  const char *const names[] = {"m", "own", "absent", "__init__"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    PyObject *expected = MRO_LOOKUP(ITEM(g, "Sub"), names[i]);
    PyObject *found = (PyObject *)&found; /* overwritten, NULL included */
    ck_assert_int_eq(watch_attr_lookup(ITEM(g, "Sub"), key(names[i]), &found),
                     0);
    ck_assert_msg(found == expected, "Sub.%s: another object", names[i]);
    PROBE(p);
    ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "Sub"), key(names[i]),
                                       found), 0);
    probe_release(p);
    Py_XDECREF(expected);
  }
  PyObject *mod = ITEM(g, "mod");
  PyObject *found = NULL;
  ck_assert_int_eq(watch_attr_lookup(mod, key("__name__"), &found), 0);
  ck_assert_ptr_eq(found, PyDict_GetItemString(PyModule_GetDict(mod),
                                               "__name__"));
  ck_assert_int_eq(watch_attr_lookup(mod, key("absent"), &found), 0);
  ck_assert_ptr_null(found);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_lookup_refuses_what_a_dependency_refuses)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *found;
  PyObject *number = PyLong_FromLong(7);
  ck_assert_int_eq(watch_attr_lookup(number, key("m"), &found), WATCH_EINVAL);
  ck_assert_int_eq(watch_attr_lookup(ITEM(g, "Sub"), number, &found),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_attr_lookup(ITEM(g, "Sub"), key("m"), NULL),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_attr_lookup(NULL, key("m"), &found), WATCH_EINVAL);
  assert_no_python_error();
  Py_DECREF(number);
  Py_DECREF(g);
}
END_TEST

START_TEST(static_builtin_type_attrs_survive_subclass_writes_and_see_raw_writes)
{
  PyObject *int_add = PY("int.__dict__['__add__']");
  PyObject *str_upper = PY("str.__dict__['upper']");
  PyObject *object_setattr = PY("object.__dict__['__setattr__']");
  PROBE(on_add);
  PROBE(on_upper);
  PROBE(on_inherited);
  PROBE(on_absent);
  watch_counters_t before = COUNTERS();

  ck_assert_int_eq(watch_dep_on_attr(on_add->dep, (PyObject *)&PyLong_Type,
                                     key("__add__"), int_add),
                   0);
  ck_assert_int_eq(watch_dep_on_attr(on_upper->dep, (PyObject *)&PyUnicode_Type,
                                     key("upper"), str_upper),
                   0);
  ck_assert_int_eq(watch_dep_on_attr(on_inherited->dep,
                                     (PyObject *)&PyLong_Type,
                                     key("__repr__"), int_add),
                   WATCH_ESTALE);
  ck_assert_int_eq(watch_dep_on_attr(on_inherited->dep,
                                     (PyObject *)&PyBool_Type,
                                     key("__setattr__"), object_setattr),
                   0);
  ck_assert_int_eq(watch_dep_on_attr(on_absent->dep, (PyObject *)&PyLong_Type,
                                     key("no_such_attribute"), NULL),
                   0);

  /* The dicts of int, str, bool and object: raw writes can reach them. */
  ASSERT_COUNTER(namespaces, ==, before.namespaces + 4);
  PyObject *g = NS("class MyInt(int):\n"
                   "    pass\n"
                   "class MyStr(str):\n"
                   "    pass\n"
                   "MyInt.__add__ = lambda a, b: 0\n"
                   "MyInt.no_such_attribute = 1\n"
                   "MyStr.upper = lambda s: s\n"
                   "del MyInt.__add__\n"
                   "assert (1).__add__(2) == 3 and 'a'.upper() == 'A'\n");
  assert_intact(on_add);
  assert_intact(on_upper);
  assert_intact(on_inherited);
  assert_intact(on_absent);
  /* A static type's dict written raw, as a heap class's can be. */
  RUN(g, "import gc\n"
         "raw = gc.get_referents(int.__dict__)[0]\n"
         "raw['no_such_attribute'] = 1\n"
         "del raw['no_such_attribute']\n");
  assert_invalidated(on_absent, WATCH_EVENT_ADDED, NULL);
  assert_intact(on_add);
  probe_release(on_add);
  probe_release(on_upper);
  probe_release(on_inherited);
  probe_release(on_absent);
  Py_DECREF(g);
  Py_DECREF(object_setattr);
  Py_DECREF(str_upper);
  Py_DECREF(int_add);
}
END_TEST

START_TEST(static_builtin_type_attr_install_fails_stale_with_another_value)
{
  PyObject *str_upper = PY("str.__dict__['upper']");
  PyObject *bound = PY("(1).__add__");
  PROBE(p);

  ASSERT_ATTR_FAILS(p, (PyObject *)&PyLong_Type, key("__add__"), str_upper,
                    WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, (PyObject *)&PyLong_Type, key("__add__"), bound,
                    WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, (PyObject *)&PyLong_Type, key("__add__"), NULL,
                    WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, (PyObject *)&PyLong_Type, key("no_such_attribute"),
                    str_upper, WATCH_ESTALE);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(bound);
  Py_DECREF(str_upper);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Modules                                                                  */

#define MODULE_SRC                                                            \
  "import types\n"                                                            \
  "mod = types.ModuleType('mod')\n"                                           \
  "mod.x = object()\n"                                                        \
  "mod.y = object()\n"                                                        \
  "d = mod.__dict__\n"

START_TEST(a_module_attr_is_invalidated_by_setattr)
{
  PyObject *g = NS(MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(p);
  DEPEND_ATTR(p, mod, "x");

  RUN(g, "setattr(mod, 'x', 1)\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, PyModule_GetDict(mod));
  assert_key(p, "x");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_is_invalidated_by_a_write_to_its_dict)
{
  PyObject *g = NS(MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(p);
  DEPEND_ATTR(p, mod, "x");

  RUN(g, "mod.__dict__['x'] = 1\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, PyModule_GetDict(mod));
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_is_invalidated_by_delattr)
{
  PyObject *g = NS(MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(p);
  DEPEND_ATTR(p, mod, "x");

  RUN(g, "del mod.x\n");

  assert_invalidated(p, WATCH_EVENT_DELETED, PyModule_GetDict(mod));
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_is_not_invalidated_by_another_name)
{
  PyObject *g = NS(MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(p);
  DEPEND_ATTR(p, mod, "x");

  RUN(g, "setattr(mod, 'y', 1)\n"
         "mod.brand_new = 2\n"
         "del mod.y\n");

  assert_intact(p);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_missing_module_attr_is_invalidated_when_it_is_added)
{
  PyObject *g = NS(MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, mod, key("absent"), NULL), 0);

  RUN(g, "mod.absent = 1\n");

  assert_invalidated(p, WATCH_EVENT_ADDED, PyModule_GetDict(mod));
  assert_key(p, "absent");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_install_fails_stale_with_another_value)
{
  PyObject *g = NS(MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(p);

  ASSERT_ATTR_FAILS(p, mod, key("x"), ITEM(g, "mod") /* not mod.x */,
                    WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, mod, key("x"), NULL, WATCH_ESTALE);
  ASSERT_ATTR_FAILS(p, mod, key("absent"), ITEM(PyModule_GetDict(mod), "y"),
                    WATCH_ESTALE);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_is_the_same_dependency_as_a_key_of_its_dict)
{
  PyObject *g = NS(MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PyObject *d = PyModule_GetDict(mod);
  PROBE(on_attr);
  PROBE(on_key);
  DEPEND_ATTR(on_attr, mod, "x");
  DEPEND(on_key, d, "x");

  RUN(g, "mod.x = 2\n");

  assert_invalidated(on_attr, WATCH_EVENT_MODIFIED, d);
  assert_invalidated(on_key, WATCH_EVENT_MODIFIED, d);
  probe_release(on_attr);
  probe_release(on_key);
  Py_DECREF(g);
}
END_TEST


/* A module's __class__ assignment: the module attribute dependents took its
 * class into account, the dict's own dependents did not. */
#define SWAPPABLE_MODULE_SRC                                                  \
  MODULE_SRC                                                                  \
  "class S(types.ModuleType):\n"                                              \
  "    pass\n"                                                                \
  "other = types.ModuleType('other')\n"                                       \
  "other.x = mod.x\n"

START_TEST(a_module_class_swap_invalidates_its_attr_dependents)
{
  PyObject *g = NS(SWAPPABLE_MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(present);
  PROBE(absent);
  DEPEND_ATTR(present, mod, "x");
  ck_assert_int_eq(watch_dep_on_attr(absent->dep, mod, key("absent"), NULL),
                   0);

  RUN(g, "mod.__class__ = S\n");

  assert_invalidated(present, WATCH_EVENT_TYPE, mod);
  assert_invalidated(absent, WATCH_EVENT_TYPE, mod);
  probe_release(present);
  probe_release(absent);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_class_swap_leaves_the_key_global_and_namespace_dependents_of_its_dict)
{
  PyObject *g = NS(SWAPPABLE_MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PyObject *d = PyModule_GetDict(mod);
  PyObject *builtins = PyEval_GetBuiltins();
  PROBE(on_attr);
  PROBE(on_key);
  PROBE(on_global);
  PROBE(on_builtin);
  PROBE(on_namespace);
  DEPEND_ATTR(on_attr, mod, "x");
  DEPEND(on_key, d, "x");
  ck_assert_int_eq(watch_dep_on_global(on_global->dep, d, builtins, key("x"),
                                       ITEM(d, "x")),
                   0);
  ck_assert_int_eq(watch_dep_on_global(on_builtin->dep, d, builtins,
                                       key("len"), ITEM(builtins, "len")),
                   0);
  ck_assert_int_eq(watch_dep_on_namespace(on_namespace->dep, d), 0);

  RUN(g, "mod.__class__ = S\n");

  assert_invalidated(on_attr, WATCH_EVENT_TYPE, mod);
  assert_intact(on_key);
  assert_intact(on_global);
  assert_intact(on_builtin);
  assert_intact(on_namespace);

  /* They still hear their dict. */
  RUN(g, "mod.x = 2\n");

  assert_invalidated(on_key, WATCH_EVENT_MODIFIED, d);
  assert_invalidated(on_global, WATCH_EVENT_MODIFIED, d);
  assert_invalidated(on_namespace, WATCH_EVENT_MODIFIED, d);
  assert_intact(on_builtin);
  probe_release(on_attr);
  probe_release(on_key);
  probe_release(on_global);
  probe_release(on_builtin);
  probe_release(on_namespace);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_class_swap_reaches_that_module_alone)
{
  PyObject *g = NS(SWAPPABLE_MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PyObject *other = ITEM(g, "other");
  PROBE(on_mod);
  PROBE(on_other);
  DEPEND_ATTR(on_mod, mod, "x");
  DEPEND_ATTR(on_other, other, "x");

  RUN(g, "mod.__class__ = S\n");

  assert_invalidated(on_mod, WATCH_EVENT_TYPE, mod);
  assert_intact(on_other);
  probe_release(on_mod);
  probe_release(on_other);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_registered_after_a_class_swap_hears_the_next_one)
{
  PyObject *g = NS(SWAPPABLE_MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(first);
  PROBE(second);
  DEPEND_ATTR(first, mod, "x");
  RUN(g, "mod.__class__ = S\n");
  assert_invalidated(first, WATCH_EVENT_TYPE, mod);
  DEPEND_ATTR(second, mod, "x");

  RUN(g, "mod.__class__ = types.ModuleType\n");

  assert_invalidated_once(first);
  assert_invalidated(second, WATCH_EVENT_TYPE, mod);
  probe_release(first);
  probe_release(second);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_dependent_is_unlinked_whole_when_the_module_dict_is_cleared)
{
  PyObject *g = NS(SWAPPABLE_MODULE_SRC);
  PyObject *mod = ITEM(g, "mod");
  PROBE(p);
  DEPEND_ATTR(p, mod, "x");

  RUN(g, "mod.__dict__.clear()\n");

  assert_invalidated(p, WATCH_EVENT_CLEARED, PyModule_GetDict(mod));
  ASSERT_COUNTER(edges, ==, 0);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_module_attr_dependent_is_unlinked_whole_when_the_module_dies)
{
  PyObject *g = NS(SWAPPABLE_MODULE_SRC);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(g, "mod"), "x");

  RUN(g, "del mod, d\n");

  assert_invalidated(p, WATCH_EVENT_DEALLOCATED, NULL);
  ASSERT_COUNTER(edges, ==, 0);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad input                                                                */

START_TEST(attr_names_other_than_exact_str_are_invalid)
{
  PyObject *g = NS(CLASSES_SRC MODULE_SRC "class S(str):\n"
                                          "    pass\n"
                                          "str_subclass_name = S('m')\n"
                                          "int_name = 12345\n"
                                          "bytes_name = b'm'\n"
                                          "mod.m = Base.__dict__['m']\n");
  PyObject *objs[] = { ITEM(g, "Base"), ITEM(g, "Sub"), ITEM(g, "mod") };
  PyObject *m = EVAL(g, "Base.__dict__['m']");
  PROBE(p);
  watch_counters_t before = COUNTERS();

  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
    ASSERT_ATTR_FAILS(p, objs[i], ITEM(g, "str_subclass_name"), m,
                      WATCH_EINVAL);
    ASSERT_ATTR_FAILS(p, objs[i], ITEM(g, "int_name"), NULL, WATCH_EINVAL);
    ASSERT_ATTR_FAILS(p, objs[i], ITEM(g, "bytes_name"), NULL, WATCH_EINVAL);
    ASSERT_ATTR_FAILS(p, objs[i], NULL, m, WATCH_EINVAL);
  }

  assert_intact(p);
  ASSERT_COUNTER(edges, ==, before.edges);
  probe_release(p);
  Py_DECREF(m);
  Py_DECREF(g);
}
END_TEST

START_TEST(attr_objects_that_are_neither_module_nor_class_are_invalid)
{
  PyObject *g = NS(CLASSES_SRC "number = 12345\n"
                               "d = {'m': 1}\n"
                               "instance = Base()\n"
                               "instance.m = 1\n"
                               "func = replacement\n");
  PROBE(p);
  watch_counters_t before = COUNTERS();

  ASSERT_ATTR_FAILS(p, ITEM(g, "number"), key("m"), NULL, WATCH_EINVAL);
  ASSERT_ATTR_FAILS(p, ITEM(g, "number"), key("real"), NULL, WATCH_EINVAL);
  ASSERT_ATTR_FAILS(p, ITEM(g, "d"), key("m"), NULL, WATCH_EINVAL);
  ASSERT_ATTR_FAILS(p, ITEM(g, "d"), key("m"), ITEM(ITEM(g, "d"), "m"),
                    WATCH_EINVAL);
  ASSERT_ATTR_FAILS(p, ITEM(g, "instance"), key("m"), NULL, WATCH_EINVAL);
  ASSERT_ATTR_FAILS(p, ITEM(g, "func"), key("m"), NULL, WATCH_EINVAL);
  ASSERT_ATTR_FAILS(p, NULL, key("m"), NULL, WATCH_EINVAL);
  PyObject *v = MRO_LOOKUP(ITEM(g, "Base"), "other");
  ck_assert_int_eq(watch_dep_on_attr(NULL, ITEM(g, "Base"), key("other"), v),
                   WATCH_EINVAL);
  Py_DECREF(v);

  assert_no_python_error();
  assert_intact(p);
  ASSERT_COUNTER(edges, ==, before.edges);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(registering_an_attr_on_an_invalidated_dependent_fails)
{
  PyObject *g = NS(CLASSES_SRC MODULE_SRC);
  PROBE(p);
  ck_assert_int_eq(watch_dep_invalidate(p->dep), 0);
  watch_counters_t before = COUNTERS();
  PyObject *v = MRO_LOOKUP(ITEM(g, "Sub"), "m");

  ASSERT_ATTR_FAILS(p, ITEM(g, "Sub"), key("m"), v, WATCH_EINVALIDATED);
  ASSERT_ATTR_FAILS(p, ITEM(g, "mod"), key("x"),
                    ITEM(PyModule_GetDict(ITEM(g, "mod")), "x"),
                    WATCH_EINVALIDATED);

  ASSERT_COUNTER(edges, ==, before.edges);
  ck_assert_int_eq(p->rec.count, 1);
  probe_release(p);
  Py_DECREF(v);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Callbacks                                                                */

START_TEST(releasing_dependents_inside_a_bases_callback_is_safe)
{
  PyObject *g = NS(CLASSES_SRC);
  PyObject *c = ITEM(g, "C");
  PROBE(self_releasing);
  PROBE(releases_other);
  PROBE(released);
  DEPEND_ATTR(self_releasing, c, "m");
  DEPEND_ATTR(releases_other, c, "m");
  DEPEND_ATTR(released, c, "m");
  self_releasing->rec.release_self = 1;
  releases_other->rec.release_other = released;

  RUN(g, "C.__bases__ = (B,)\n"
         "C.__bases__ = (A,)\n"
         "A.m = replacement\n");

  ck_assert_int_eq(self_releasing->rec.count, 1);
  ck_assert_int_eq(releases_other->rec.count, 1);
  ck_assert_int_le(released->rec.count, 1);
  ck_assert_ptr_null(self_releasing->dep);
  ck_assert_ptr_null(released->dep);
  probe_release(releases_other);
  Py_DECREF(g);
}
END_TEST

START_TEST(releasing_a_dependent_inside_a_builtin_based_callback_is_safe)
{
  PyObject *g = NS(BUILTIN_BASED_SRC);
  PyObject *e = ITEM(g, "E");
  PROBE(a);
  PROBE(b);
  DEPEND_ATTR(a, e, "m");
  DEPEND_ATTR(b, e, "m");
  a->rec.release_self = 1;
  b->rec.release_self = 1;

  RUN(g, "E.other = 1\n"
         "E.other = 2\n"
         "E.__bases__ = (ValueError,)\n");

  ck_assert_int_eq(a->rec.count, 1);
  ck_assert_int_eq(b->rec.count, 1);
  ck_assert_ptr_null(a->dep);
  ck_assert_ptr_null(b->dep);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Initialization and finalization (these tests call watch_init themselves) */

START_TEST(watch_dep_on_attr_needs_watch_init)
{
  PyObject *g = NS(CLASSES_SRC MODULE_SRC);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);
  watch_fini();
  PyObject *v = MRO_LOOKUP(ITEM(g, "Sub"), "m");

  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "Sub"), key("m"), v),
                   WATCH_ENOINIT);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(g, "mod"), key("absent"),
                                     NULL),
                   WATCH_ENOINIT);

  assert_no_python_error();
  Py_DECREF(v);
  Py_DECREF(g);
}
END_TEST

START_TEST(watch_fini_finalizes_attr_dependents_and_later_changes_call_nothing)
{
  PyObject *g = NS(CLASSES_SRC BUILTIN_BASED_SRC MODULE_SRC);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(on_sub);
  PROBE(on_c);
  PROBE(on_e);
  PROBE(on_mod);
  DEPEND_ATTR(on_sub, ITEM(g, "Sub"), "m");
  DEPEND_ATTR(on_c, ITEM(g, "C"), "m");
  DEPEND_ATTR(on_e, ITEM(g, "E"), "m");
  DEPEND_ATTR(on_mod, ITEM(g, "mod"), "x");

  watch_fini();

  assert_invalidated(on_sub, WATCH_EVENT_FINALIZED, NULL);
  assert_invalidated(on_c, WATCH_EVENT_FINALIZED, NULL);
  assert_invalidated(on_e, WATCH_EVENT_FINALIZED, NULL);
  assert_invalidated(on_mod, WATCH_EVENT_FINALIZED, NULL);
  RUN(g, "Base.m = replacement\n"
         "C.__bases__ = (B,)\n"
         "E.m = 1\n"
         "E.__bases__ = (ValueError,)\n"
         "mod.x = 1\n"
         "del Sub, C, E\n"
         "gc.collect()\n");
  ck_assert_int_eq(on_sub->rec.count, 1);
  ck_assert_int_eq(on_c->rec.count, 1);
  ck_assert_int_eq(on_e->rec.count, 1);
  ck_assert_int_eq(on_mod->rec.count, 1);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_class_watched_before_watch_fini_works_after_a_new_watch_init)
{
  PyObject *g = NS(CLASSES_SRC BUILTIN_BASED_SRC);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(old_sub);
  PROBE(old_c);
  PROBE(old_e);
  DEPEND_ATTR(old_sub, ITEM(g, "Sub"), "m");
  DEPEND_ATTR(old_c, ITEM(g, "C"), "m");
  DEPEND_ATTR(old_e, ITEM(g, "E"), "m");
  watch_fini();
  ck_assert_int_eq(watch_init(), 0);
  PROBE(on_sub);
  PROBE(on_c);
  PROBE(on_e);
  DEPEND_ATTR(on_sub, ITEM(g, "Sub"), "m");
  DEPEND_ATTR(on_c, ITEM(g, "C"), "m");
  DEPEND_ATTR(on_e, ITEM(g, "E"), "m");

  RUN(g, "Base.m = replacement\n"
         "C.__bases__ = (B,)\n"
         "E.other = 1\n");

  assert_invalidated_by_key(on_sub, WATCH_EVENT_MODIFIED, "m");
  assert_invalidated(on_c, WATCH_EVENT_TYPE, NULL);
  assert_invalidated_once(on_e);
  ck_assert_int_eq(old_sub->rec.count, 1);
  ck_assert_int_eq(old_c->rec.count, 1);
  ck_assert_int_eq(old_e->rec.count, 1);
  watch_fini();
  Py_DECREF(g);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("attr");

  TCase *tc = harness_tcase(s, "mro_lookup");
  tcase_add_test(tc, attr_lookup_gives_what_a_dependency_assumes);
  tcase_add_test(tc, attr_lookup_refuses_what_a_dependency_refuses);
  tcase_add_test(tc, attr_defined_on_the_class_registers_with_its_dict_entry);
  tcase_add_test(tc,
                 attr_inherited_from_a_base_registers_with_the_base_s_dict_entry);
  tcase_add_test(
      tc, attr_inherited_from_a_base_of_a_base_registers_with_its_dict_entry);
  tcase_add_test(tc, attr_absent_from_the_whole_mro_registers_as_null);
  tcase_add_test(tc,
                 attr_install_fails_stale_unless_assumed_is_what_the_mro_holds);
  tcase_add_test(tc, attr_install_fails_stale_with_a_value_a_descriptor_produced);
  tcase_add_test(tc,
                 attr_install_fails_stale_with_a_base_value_a_subclass_overrides);
  tcase_add_test(tc, attr_lookup_does_not_search_the_metaclass);
  tcase_add_test(tc, a_failed_attr_registration_leaves_the_dependent_as_it_was);
  tcase_add_test(tc, a_name_that_is_not_interned_is_matched_by_value);

  tc = harness_tcase(s, "invalidation");
  tcase_add_test(tc, writing_the_name_on_the_class_invalidates);
  tcase_add_test(tc, writing_the_name_on_the_base_that_defines_it_invalidates);
  tcase_add_test(tc, setattr_of_the_name_on_a_base_invalidates);
  tcase_add_test(tc, defining_the_name_on_an_intermediate_class_invalidates);
  tcase_add_test(tc, defining_an_inherited_name_on_the_class_itself_invalidates);
  tcase_add_test(tc, deleting_the_name_from_the_class_invalidates);
  tcase_add_test(tc, deleting_the_name_from_the_base_that_defines_it_invalidates);
  tcase_add_test(tc, assigning_bases_of_the_class_invalidates);
  tcase_add_test(tc, assigning_bases_of_a_base_of_the_class_invalidates);
  tcase_add_test(tc,
                 assigning_bases_invalidates_an_absent_name_the_new_base_defines);
  tcase_add_test(tc, a_raw_write_to_the_class_dict_invalidates);
  tcase_add_test(tc, a_raw_write_to_the_dict_of_the_defining_base_invalidates);
  tcase_add_test(
      tc, a_raw_write_shadowing_the_name_in_an_intermediate_dict_invalidates);
  tcase_add_test(tc, a_raw_delete_from_the_class_dict_invalidates);
  tcase_add_loop_test(tc,
                      adding_an_absent_name_to_any_class_of_the_mro_invalidates,
                      0,
                      sizeof adding_an_absent_name
                          / sizeof adding_an_absent_name[0]);
  tcase_add_test(
      tc, a_name_inherited_from_object_is_invalidated_when_a_class_defines_it);
  tcase_add_test(
      tc, dependents_on_one_attr_through_several_classes_are_all_invalidated);
  tcase_add_test(tc, a_dependent_on_several_attrs_is_invalidated_once);
  tcase_add_test(tc, reregistering_after_an_invalidation_sees_the_next_change);

  tc = harness_tcase(s, "before_the_write");
  tcase_add_test(tc, a_class_attr_is_invalid_before_the_write_and_called_after_it);
  tcase_add_test(
      tc, a_builtin_based_class_attr_is_invalid_before_the_write_and_called_after_it);
  tcase_add_test(
      tc, bases_assignment_running_a_subclass_mro_invalidates_before_returning);
  tcase_add_test(
      tc,
      no_python_code_sees_a_valid_builtin_based_dependent_after_bases_changed);

  tc = harness_tcase(s, "precision");
  tcase_add_test(tc, writing_another_name_on_a_base_does_not_invalidate);
  tcase_add_test(tc, writing_another_name_on_the_class_does_not_invalidate);
  tcase_add_test(tc, a_metaclass_attribute_write_does_not_invalidate);
  tcase_add_test(tc, a_subclass_defining_the_name_does_not_invalidate);
  tcase_add_test(tc, a_write_beyond_the_defining_class_does_not_invalidate);
  tcase_add_test(tc, assigning_bases_of_an_unrelated_class_does_not_invalidate);

  tc = harness_tcase(s, "many_modifications");
  tcase_add_test(tc,
                 a_class_modified_1500_times_accepts_a_dependent_that_sees_a_change);
  tcase_add_test(tc,
                 a_class_modified_and_looked_up_1500_times_accepts_a_dependent);
  tcase_add_loop_test(
      tc, a_class_modified_1500_times_never_gives_a_dependent_that_misses_a_change,
      0, sizeof change_after_1500 / sizeof change_after_1500[0]);
  tcase_add_test(tc,
                 a_base_modified_1500_times_never_gives_a_dependent_that_misses_bases);
  tcase_add_test(tc, a_dependent_that_outlives_1500_modifications_never_misses_bases);
  tcase_add_test(tc, a_name_modified_1500_times_is_unstable);
  tcase_add_test(tc, an_inherited_name_modified_1500_times_on_the_base_is_unstable);

  tc = harness_tcase(s, "builtin_based");
  tcase_add_test(tc, builtin_based_class_attr_is_invalidated_by_writing_the_name);
  tcase_add_test(tc, builtin_based_class_attr_is_invalidated_by_deleting_the_name);
  tcase_add_test(tc, builtin_based_class_attr_is_invalidated_by_a_raw_write);
  tcase_add_test(tc, builtin_based_class_attr_is_invalidated_by_assigning_bases);
  tcase_add_test(tc,
                 builtin_based_class_attr_is_invalidated_by_writing_another_name);
  tcase_add_test(
      tc, builtin_based_class_attr_is_invalidated_by_defining_an_inherited_name);
  tcase_add_test(
      tc, builtin_based_class_with_a_custom_mro_is_refused_as_unstable);
  tcase_add_test(
      tc, builtin_based_class_whose_metaclass_gains_an_mro_is_invalidated);
  tcase_add_test(tc, a_pending_exception_survives_a_type_event);
  tcase_add_test(
      tc, builtin_based_registration_fails_busy_when_no_type_watcher_id_is_free);
  tcase_add_loop_test(
      tc,
      a_builtin_based_class_modified_1500_times_never_gives_a_dependent_that_misses_a_change,
      0, sizeof builtin_based_change / sizeof builtin_based_change[0]);
  tcase_add_loop_test(
      tc, a_builtin_based_class_modified_1500_times_without_lookups_never_misses,
      0, sizeof builtin_based_change / sizeof builtin_based_change[0]);
  tcase_add_test(
      tc, builtin_based_dependents_registered_one_after_another_each_see_a_change);

  tc = harness_tcase(s, "death");
  tcase_add_test(tc, a_class_that_dies_invalidates_its_dependents);
  tcase_add_test(tc, a_builtin_based_class_that_dies_invalidates_its_dependents);
  tcase_add_test(tc, dependents_released_before_their_class_dies_are_not_called);

  tc = harness_tcase(s, "static_builtin_types");
  tcase_add_test(tc, static_builtin_type_attrs_survive_subclass_writes_and_see_raw_writes);
  tcase_add_test(tc, static_builtin_type_attr_install_fails_stale_with_another_value);

  tc = harness_tcase(s, "modules");
  tcase_add_test(tc, a_module_attr_is_invalidated_by_setattr);
  tcase_add_test(tc, a_module_attr_is_invalidated_by_a_write_to_its_dict);
  tcase_add_test(tc, a_module_attr_is_invalidated_by_delattr);
  tcase_add_test(tc, a_module_attr_is_not_invalidated_by_another_name);
  tcase_add_test(tc, a_missing_module_attr_is_invalidated_when_it_is_added);
  tcase_add_test(tc, a_module_attr_install_fails_stale_with_another_value);
  tcase_add_test(tc, a_module_attr_is_the_same_dependency_as_a_key_of_its_dict);
  tcase_add_test(tc, a_module_class_swap_invalidates_its_attr_dependents);
  tcase_add_test(
      tc,
      a_module_class_swap_leaves_the_key_global_and_namespace_dependents_of_its_dict);
  tcase_add_test(tc, a_module_class_swap_reaches_that_module_alone);
  tcase_add_test(tc,
                 a_module_attr_registered_after_a_class_swap_hears_the_next_one);
  tcase_add_test(
      tc, a_module_attr_dependent_is_unlinked_whole_when_the_module_dict_is_cleared);
  tcase_add_test(tc,
                 a_module_attr_dependent_is_unlinked_whole_when_the_module_dies);

  tc = harness_tcase(s, "errors");
  tcase_add_test(tc, attr_names_other_than_exact_str_are_invalid);
  tcase_add_test(tc, attr_objects_that_are_neither_module_nor_class_are_invalid);
  tcase_add_test(tc, registering_an_attr_on_an_invalidated_dependent_fails);

  tc = harness_tcase(s, "callbacks");
  tcase_add_test(tc, releasing_dependents_inside_a_bases_callback_is_safe);
  tcase_add_test(tc, releasing_a_dependent_inside_a_builtin_based_callback_is_safe);

  tc = harness_bare_tcase(s, "lifecycle");
  tcase_add_test(tc, watch_dep_on_attr_needs_watch_init);
  tcase_add_test(tc,
                 watch_fini_finalizes_attr_dependents_and_later_changes_call_nothing);
  tcase_add_test(tc, a_class_watched_before_watch_fini_works_after_a_new_watch_init);
  return s;
}
