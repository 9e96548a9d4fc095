"""ast: parse, walk, the deprecated node classes, unparse, literal_eval."""
import ast
import warnings

tree = ast.parse("x = 1 + 2\nprint('s', x)\n")
print(sum(1 for _ in ast.walk(tree)), ast.dump(tree.body[0])[:20])
print(ast.unparse(tree), ast.literal_eval("[1, (2, 'a')]"))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for name in ("Str", "Num", "Bytes", "NameConstant", "Ellipsis"):
        print(name, hasattr(ast, name))
    print(isinstance(tree.body[0].value.left, getattr(ast, "Num", object)))
print(compile(tree, "<ast>", "exec") is not None)
