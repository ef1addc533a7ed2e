/* parser.y - the dt grammar (spec sections 3-6), building the AST of ast.h.
 *
 * A pure (reentrant) bison parser over the flex scanner of lexer.l; the
 * FeParser passed to both holds the arena, the Diag and what error messages
 * need.  Placements are parsed as ordinary bracketed expression lists and
 * interpreted by sema.  Precedence follows Python: '*' '/' '//' '%' '@' bind
 * tighter than '+' '-' and associate to the left; unary minus binds tighter
 * still; the comparisons '<' '<=' '>' '>=' '==' '!=' bind loosest and do not
 * chain (`a < b < c` is a syntax error: write it with two comparisons).
 *
 * Syntax errors are reported by yyreport_syntax_error in plain words
 * ("expected ';' after statement", "expected expression before ')'") and recovered from at
 * three levels: a statement (resync at ';' or the next 'let' / 'return' /
 * 'for' / '}'), a function header (resync at the body's '{'), and a declaration
 * (resync at ';' or the next 'import' / 'const' / 'mesh' / 'fn').  Bison reports a new
 * error only after three tokens were accepted, which hides the cascade.
 */
%define api.pure full
%define api.prefix {fe_yy}
%define parse.error custom
%define parse.lac full
%locations
%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {FeParser *p}

%code requires {
#include "frontend/fe_internal.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif
}

%code {
#include <string.h>

int fe_yylex(FE_YYSTYPE *lval, FE_YYLTYPE *lloc, yyscan_t scanner);
void *fe_lex_begin(FeParser *p, const char *text, size_t len);
void fe_lex_end(void *scanner);

static void fe_yyerror(FE_YYLTYPE *loc, yyscan_t scanner, FeParser *p, const char *msg);

#define L(l) ((SrcLoc){p->file, (l).first_line, (l).first_column})

static Expr *checked(FeParser *p, Expr *e);

static bool is_compare(const Expr *e)
{
    return e->kind == E_BINARY && !e->parens && strchr("<>LGEN", e->op);
}

/* A comparison.  `a < b < c` is an error: Python chains it, C compares the
 * first result; dt does neither and says so. */
static Expr *compare(FeParser *p, SrcLoc loc, char op, Expr *l, Expr *r)
{
    if (is_compare(l))
        diag_error(p->d, loc, "comparisons do not chain: write (a < b) * (b < c) for both to hold, "
                   "or parenthesise the first comparison to compare its 1 / 0 result");
    return fe_expr_binary(p->a, loc, op, l, r);
}


static Decl *new_decl(FeParser *p, DeclKind k, SrcLoc loc, const char *name);
static Stmt *new_stmt(FeParser *p, StmtKind k, SrcLoc loc);
static FeList *list1(FeParser *p, void *x);
static const char *kw_as_name(FeParser *p, SrcLoc loc, const char *kw);
static FeList *push(FeParser *p, FeList *l, void *x);
}

%union {
    const char *str;
    int64_t ival;
    double fval;
    Expr *expr;
    FeList *list;
    FeArg *arg;
    TypeAst *type;
    PlacementAst *pl;
    ParamAst *param;
    ResultAst *result;
    RuleAst *rule;
    Stmt *stmt;
    Decl *decl;
}

%token <str> NAME "identifier"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token <str> STRING "string literal"
%token CONST "'const'"
%token MESH "'mesh'"
%token FN "'fn'"
%token IMPORT "'import'"
%token LOCAL "'local'"
%token SHARDING "'sharding'"
%token LET "'let'"
%token RETURN "'return'"
%token FOR "'for'"
%token DOTDOT "'..'"
%token TRUE "'true'"
%token FALSE "'false'"
%token ARROW "'->'"
%token FLOORDIV "'//'"
%token LE "'<='"
%token GE "'>='"
%token EQEQ "'=='"
%token NE "'!='"

%left '<' '>' LE GE EQEQ NE
%left '+' '-'
%left '*' '/' '@' '%' FLOORDIV
%precedence NEG

%type <decl> decl fn
%type <list> axes axes_opt params params_opt results results_opt result_list body stmts
%type <list> names exprs exprs_opt args args_opt subscripts subscripts_opt
%type <arg> axis arg
%type <param> param carry_item
%type <list> carries
%type <result> result
%type <rule> rule
%type <list> sharding_opt rules_opt
%type <type> type type_opt
%type <pl> placement pl_opt
%type <stmt> stmt
%type <str> ident
%type <expr> expr primary init_opt subscript expr_opt

%%

program
    : %empty
    | program decl              { if ($2) fe_list_push(p->a, p->decls, $2); }
    ;

decl
    : CONST ident '=' expr ';'  {
          $$ = new_decl(p, D_CONST, L(@2), $2);
          $$->value = checked(p, $4);
      }
    | MESH ident '[' axes_opt ']' ';' {
          $$ = new_decl(p, D_MESH, L(@2), $2);
          int n = $4->n;
          if (n == 0)
              diag_error(p->d, L(@3), "a mesh needs at least one axis, as in %s[dp=2]", $2);
          $$->naxes = n;
          $$->axis_names = arena_alloc(p->a, (size_t)(n ? n : 1) * sizeof(char *));
          $$->axis_locs = arena_alloc(p->a, (size_t)(n ? n : 1) * sizeof(SrcLoc));
          $$->axis_sizes = arena_alloc(p->a, (size_t)(n ? n : 1) * sizeof(Expr *));
          for (int i = 0; i < n; i++) {
              FeArg *g = $4->items[i];
              $$->axis_names[i] = g->kw;
              $$->axis_locs[i] = g->kw_loc;
              $$->axis_sizes[i] = g->val;
          }
      }
    | IMPORT STRING ';'         {
          $$ = new_decl(p, D_IMPORT, L(@2), NULL);
          $$->value = fe_expr_string(p->a, L(@2), $2);
      }
    | fn
    | LOCAL fn                  { $$ = $2; $$->is_local = true; } /* a per-shard function (sema_local.c) */
    | FN error body             { $$ = NULL; }
    | error ';'                 { $$ = NULL; yyerrok; }
    | error                     { $$ = NULL; yyerrok; }
    ;

axes_opt
    : %empty                    { $$ = fe_list_new(p->a); }
    | axes
    ;

axes
    : axis                      { $$ = list1(p, $1); }
    | axes ',' axis             { $$ = push(p, $1, $3); }
    ;

axis
    : ident '=' expr            {
          $$ = arena_alloc(p->a, sizeof(FeArg));
          $$->kw = $1;
          $$->kw_loc = L(@1);
          $$->val = checked(p, $3);
      }
    ;

fn
    : FN ident '(' params_opt ')' results_opt sharding_opt body {
          $$ = new_decl(p, D_FN, L(@2), $2);
          if ($7) {
              $$->has_sharding = true;
              $$->sharding_loc = L(@7);
              $$->nrules = $7->n;
              $$->rules = arena_alloc(p->a, (size_t)($7->n ? $7->n : 1) * sizeof(RuleAst *));
              for (int i = 0; i < $7->n; i++)
                  $$->rules[i] = $7->items[i];
          }
          $$->nparams = $4->n;
          $$->params = arena_alloc(p->a, (size_t)($4->n ? $4->n : 1) * sizeof(ParamAst *));
          for (int i = 0; i < $4->n; i++)
              $$->params[i] = $4->items[i];
          $$->nresults = $6->n;
          $$->results = arena_alloc(p->a, (size_t)($6->n ? $6->n : 1) * sizeof(ResultAst *));
          for (int i = 0; i < $6->n; i++)
              $$->results[i] = $6->items[i];
          $$->nstmts = $8->n;
          $$->body = arena_alloc(p->a, (size_t)($8->n ? $8->n : 1) * sizeof(Stmt *));
          for (int i = 0; i < $8->n; i++)
              $$->body[i] = $8->items[i];
      }
    ;

/* `sharding { (S(0), R) -> S(0); (R, S(1)) -> S(1) cost 2.0; }`: the
   function's strategies per mesh axis (sema_rules.c) */
sharding_opt
    : %empty                    { $$ = NULL; }
    | SHARDING '{' rules_opt '}' { $$ = $3; }
    ;

rules_opt
    : %empty                    { $$ = fe_list_new(p->a); }
    | rules_opt rule            { $$ = push(p, $1, $2); }
    ;

rule
    : '(' exprs_opt ')' ARROW expr ';' {
          $$ = fe_rule(p->a, L(@1), $2, checked(p, $5), NULL);
      }
    | '(' exprs_opt ')' ARROW expr NAME expr ';' {
          if (strcmp($6, "cost"))
              diag_error(p->d, L(@6), "unexpected '%s' after a strategy's result: only `cost N` may follow it", $6);
          $$ = fe_rule(p->a, L(@1), $2, checked(p, $5), checked(p, $7));
      }
    ;

params_opt
    : %empty                    { $$ = fe_list_new(p->a); }
    | params
    ;

params
    : param                     { $$ = list1(p, $1); }
    | params ',' param          { $$ = push(p, $1, $3); }
    ;

param
    : ident ':' type pl_opt init_opt {
          $$ = arena_alloc(p->a, sizeof(ParamAst));
          $$->loc = L(@1);
          $$->name = $1;
          $$->type = $3;
          $$->pl = $4;
          $$->init = $5;
      }
    ;

init_opt
    : %empty                    { $$ = NULL; }
    | '=' expr                  { $$ = checked(p, $2); }
    ;

results_opt
    : %empty                    { $$ = fe_list_new(p->a); }
    | ARROW results             { $$ = $2; }
    ;

results
    : result                    { $$ = list1(p, $1); }
    | '(' result_list ')'       { $$ = $2; }
    ;

result_list
    : result                    { $$ = list1(p, $1); }
    | result_list ',' result    { $$ = push(p, $1, $3); }
    ;

result
    : type pl_opt               {
          $$ = arena_alloc(p->a, sizeof(ResultAst));
          $$->loc = $1->loc;
          $$->type = $1;
          $$->pl = $2;
      }
    | type pl_opt NAME ident    {
          /* `feeds` is a word only here, as `carry` is in a for header */
          if (strcmp($3, "feeds"))
              diag_error(p->d, L(@3), "unexpected '%s' after a result type: only `feeds NAME` (the "
                         "parameter this result becomes on the next step) may follow it", $3);
          $$ = arena_alloc(p->a, sizeof(ResultAst));
          $$->loc = $1->loc;
          $$->type = $1;
          $$->pl = $2;
          $$->feeds = $4;
          $$->feeds_loc = L(@4);
      }
    ;

type
    : NAME '[' exprs_opt ']'    {
          for (int i = 0; i < $3->n; i++)
              $3->items[i] = checked(p, $3->items[i]);
          $$ = fe_type(p->a, L(@1), $1, $3);
      }
    | NAME '[' '*' ident ']'    {
          /* a shape variable: the whole shape, bound at each call (sema) */
          $$ = fe_type(p->a, L(@1), $1, NULL);
          $$->shape_var = $4;
          $$->shape_var_loc = L(@3);
      }
    | NAME                      {
          diag_error(p->d, L(@1), "expected '[' after '%s': a type lists its dimensions, "
                     "as in %s[4, 8] (a scalar is %s[])", $1, $1, $1);
          $$ = fe_type(p->a, L(@1), $1, NULL);
      }
    ;

type_opt
    : %empty                    { $$ = NULL; }
    | ':' type                  { $$ = $2; }
    ;

pl_opt
    : %empty                    { $$ = NULL; }
    | '@' placement             { $$ = $2; }
    ;

placement
    : NAME '[' exprs_opt ']'    {
          for (int i = 0; i < $3->n; i++)
              $3->items[i] = checked(p, $3->items[i]);
          $$ = fe_placement(p->a, L(@1), $1, $3);
      }
    | NAME                      {
          diag_error(p->d, L(@1), "expected '[' after '%s': a placement lists one entry "
                     "per mesh axis, as in %s[S(0), R]", $1, $1);
          $$ = fe_placement(p->a, L(@1), $1, NULL);
      }
    ;

body
    : '{' stmts '}'             { $$ = $2; }
    ;

stmts
    : %empty                    { $$ = fe_list_new(p->a); }
    | stmts stmt                { $$ = $1; if ($2) fe_list_push(p->a, $1, $2); }
    ;

stmt
    : LET names type_opt pl_opt '=' expr ';' {
          $$ = new_stmt(p, S_LET, L(@1));
          $$->nnames = $2->n;
          $$->names = arena_alloc(p->a, (size_t)$2->n * sizeof(char *));
          $$->name_locs = arena_alloc(p->a, (size_t)$2->n * sizeof(SrcLoc));
          for (int i = 0; i < $2->n; i++) {
              Expr *e = $2->items[i];
              $$->names[i] = e->name;
              $$->name_locs[i] = e->loc;
          }
          $$->type = $3;
          $$->pl = $4;
          $$->value = checked(p, $6);
      }
    | RETURN exprs ';'          {
          $$ = new_stmt(p, S_RETURN, L(@1));
          for (int i = 0; i < $2->n; i++)
              $2->items[i] = checked(p, $2->items[i]);
          $$->values = fe_exprs(p->a, $2, &$$->nvalues);
      }
    | FOR NAME NAME expr DOTDOT expr NAME '(' carries ')' body {
          $$ = new_stmt(p, S_FOR, L(@1));
          if (strcmp($3, "in"))
              diag_error(p->d, L(@3), "expected 'in' after the loop counter, as in `for %s in 0..L carry (h) { ... }`", $2);
          if (strcmp($7, "carry"))
              diag_error(p->d, L(@7), "expected 'carry (...)' after the range: the values the loop updates, "
                         "as in `for %s in 0..L carry (h) { h = f(h); }`", $2);
          $$->var = $2;
          $$->var_loc = L(@2);
          $$->lo = checked(p, $4);
          $$->hi = checked(p, $6);
          $$->ncarry = $9->n;
          $$->carry = arena_alloc(p->a, (size_t)($9->n ? $9->n : 1) * sizeof(ParamAst *));
          for (int i = 0; i < $9->n; i++)
              $$->carry[i] = $9->items[i];
          $$->nbody = $11->n;
          $$->body = arena_alloc(p->a, (size_t)($11->n ? $11->n : 1) * sizeof(Stmt *));
          for (int i = 0; i < $11->n; i++)
              $$->body[i] = $11->items[i];
      }
    | NAME '=' expr ';'         {
          $$ = new_stmt(p, S_ASSIGN, L(@1));
          $$->nnames = 1;
          $$->names = arena_alloc(p->a, sizeof(char *));
          $$->name_locs = arena_alloc(p->a, sizeof(SrcLoc));
          $$->names[0] = $1;
          $$->name_locs[0] = L(@1);
          $$->value = checked(p, $3);
      }
    | error ';'                 { $$ = NULL; yyerrok; }
    | error                     { $$ = NULL; yyerrok; }
    ;

carries
    : carry_item                { $$ = list1(p, $1); }
    | carries ',' carry_item    { $$ = push(p, $1, $3); }
    ;

carry_item
    : NAME pl_opt               {
          $$ = arena_alloc(p->a, sizeof(ParamAst));
          $$->loc = L(@1);
          $$->name = $1;
          $$->pl = $2;
      }
    ;

names
    : ident                     { $$ = list1(p, fe_expr_name(p->a, L(@1), $1)); }
    | names ',' ident           { $$ = push(p, $1, fe_expr_name(p->a, L(@3), $3)); }
    ;

/* A name being declared; a keyword there is reported and used as the name,
   which keeps the rest of the declaration checkable. */
ident
    : NAME
    | CONST                     { $$ = kw_as_name(p, L(@1), "const"); }
    | MESH                      { $$ = kw_as_name(p, L(@1), "mesh"); }
    | FN                        { $$ = kw_as_name(p, L(@1), "fn"); }
    | LET                       { $$ = kw_as_name(p, L(@1), "let"); }
    | RETURN                    { $$ = kw_as_name(p, L(@1), "return"); }
    | FOR                       { $$ = kw_as_name(p, L(@1), "for"); }
    | TRUE                      { $$ = kw_as_name(p, L(@1), "true"); }
    | FALSE                     { $$ = kw_as_name(p, L(@1), "false"); }
    ;

exprs_opt
    : %empty                    { $$ = fe_list_new(p->a); }
    | exprs
    ;

exprs
    : expr                      { $$ = list1(p, $1); }
    | exprs ',' expr            { $$ = push(p, $1, $3); }
    ;

/* x[i, a:b, ::s]: a subscript is an expression or a slice (E_SLICE);
   a placement M[S(0), R] is the same syntax with expression entries. */
subscripts_opt
    : %empty                    { $$ = fe_list_new(p->a); }
    | subscripts
    ;

subscripts
    : subscript                 { $$ = list1(p, $1); }
    | subscripts ',' subscript  { $$ = push(p, $1, $3); }
    ;

subscript
    : expr
    | expr_opt ':' expr_opt     { $$ = fe_expr_slice(p->a, $1 ? $1->loc : L(@2), $1, $3, NULL); }
    | expr_opt ':' expr_opt ':' expr_opt {
          $$ = fe_expr_slice(p->a, $1 ? $1->loc : L(@2), $1, $3, $5);
      }
    ;

expr_opt
    : %empty                    { $$ = NULL; }
    | expr
    ;

args_opt
    : %empty                    { $$ = fe_list_new(p->a); }
    | args
    ;

args
    : arg                       { $$ = list1(p, $1); }
    | args ',' arg              {
          if (!$3->kw && $1->n && ((FeArg *)$1->items[$1->n - 1])->kw)
              diag_error(p->d, L(@3), "positional argument after a keyword argument");
          $$ = push(p, $1, $3);
      }
    ;

arg
    : expr                      { $$ = arena_alloc(p->a, sizeof(FeArg)); $$->val = $1; }
    | NAME '=' expr             {
          $$ = arena_alloc(p->a, sizeof(FeArg));
          $$->kw = $1;
          $$->kw_loc = L(@1);
          $$->val = $3;
      }
    ;

expr
    : expr '+' expr             { $$ = fe_expr_binary(p->a, L(@2), '+', $1, $3); }
    | expr '-' expr             { $$ = fe_expr_binary(p->a, L(@2), '-', $1, $3); }
    | expr '*' expr             { $$ = fe_expr_binary(p->a, L(@2), '*', $1, $3); }
    | expr '/' expr             { $$ = fe_expr_binary(p->a, L(@2), '/', $1, $3); }
    | expr '@' expr             { $$ = fe_expr_binary(p->a, L(@2), '@', $1, $3); }
    | expr '%' expr             { $$ = fe_expr_binary(p->a, L(@2), '%', $1, $3); }
    | expr FLOORDIV expr        { $$ = fe_expr_binary(p->a, L(@2), 'F', $1, $3); }
    | expr '<' expr    { $$ = compare(p, L(@2), '<', $1, $3); }
    | expr '>' expr    { $$ = compare(p, L(@2), '>', $1, $3); }
    | expr LE expr     { $$ = compare(p, L(@2), 'L', $1, $3); }
    | expr GE expr     { $$ = compare(p, L(@2), 'G', $1, $3); }
    | expr EQEQ expr   { $$ = compare(p, L(@2), 'E', $1, $3); }
    | expr NE expr     { $$ = compare(p, L(@2), 'N', $1, $3); }
    | '-' expr %prec NEG        { $$ = fe_expr_unary(p->a, L(@1), '-', $2); }
    | primary
    ;

primary
    : INT                       { $$ = fe_expr_int(p->a, L(@1), $1); }
    | FLOAT                     { $$ = fe_expr_float(p->a, L(@1), $1); }
    | STRING                    { $$ = fe_expr_string(p->a, L(@1), $1); }
    | TRUE                      { $$ = fe_expr_bool(p->a, L(@1), 1); }
    | FALSE                     { $$ = fe_expr_bool(p->a, L(@1), 0); }
    | NAME                      { $$ = fe_expr_name(p->a, L(@1), $1); }
    | NAME '(' args_opt ')'     { $$ = fe_expr_call(p->a, L(@1), $1, $3); }
    | primary '[' subscripts_opt ']' { $$ = fe_expr_index(p->a, L(@1), $1, $3); }
    | '[' exprs_opt ']'         { $$ = fe_expr_list(p->a, L(@1), $2); }
    | '(' expr ')'              { $$ = $2; $$->parens = true; }
    ;

%%

static Decl *new_decl(FeParser *p, DeclKind k, SrcLoc loc, const char *name)
{
    Decl *d = arena_alloc(p->a, sizeof *d);
    d->kind = k;
    d->loc = loc;
    d->name = name;
    return d;
}

static Stmt *new_stmt(FeParser *p, StmtKind k, SrcLoc loc)
{
    Stmt *s = arena_alloc(p->a, sizeof *s);
    s->kind = k;
    s->loc = loc;
    return s;
}

static const char *kw_as_name(FeParser *p, SrcLoc loc, const char *kw)
{
    diag_error(p->d, loc, "'%s' is a keyword and cannot be used as a name", kw);
    return kw;
}

static FeList *list1(FeParser *p, void *x)
{
    FeList *l = fe_list_new(p->a);
    fe_list_push(p->a, l, x);
    return l;
}

static FeList *push(FeParser *p, FeList *l, void *x)
{
    fe_list_push(p->a, l, x);
    return l;
}

/* Nesting depth of e, or more than `limit` if deeper (stops looking there;
 * *deep: the first node found past the limit).  A left-leaning chain of
 * binary operators (a + b + c ..., a flat sum) is one level: every consumer
 * walks it in a loop, so only real nesting counts. */
static int depth(const Expr *e, int limit, SrcLoc *deep)
{
    if (!e)
        return 0;
    if (limit <= 0) {
        if (!deep->line)
            *deep = e->loc;
        return 1;
    }
    int d = 0;
#define DEEPER(x) do { int r_ = depth((x), limit - 1, deep); d = r_ > d ? r_ : d; } while (0)
    switch (e->kind) {
    case E_UNARY:
        DEEPER(e->lhs);
        break;
    case E_BINARY: {
        const Expr *x = e;
        for (; x->kind == E_BINARY && d < limit; x = x->lhs)
            DEEPER(x->rhs);
        if (d < limit)
            DEEPER(x);
        break;
    }
    case E_SLICE:
        if (e->lhs)
            DEEPER(e->lhs);
        if (e->rhs)
            DEEPER(e->rhs);
        if (e->step)
            DEEPER(e->step);
        break;
    case E_CALL:
        for (int i = 0; i < e->nkw && d < limit; i++)
            DEEPER(e->kw_vals[i]);
        /* fall through */
    case E_LIST:
    case E_INDEX:
        if (e->kind == E_INDEX && e->lhs)
            DEEPER(e->lhs);
        for (int i = 0; i < e->nargs && d < limit; i++)
            DEEPER(e->args[i]);
        break;
    default:
        break;
    }
#undef DEEPER
    return d + 1;
}

/* A whole expression, as it goes into a statement or declaration: trees
 * too deep for the recursive passes after us become a literal 0. */
static Expr *checked(FeParser *p, Expr *e)
{
    SrcLoc deep = {0};
    if (depth(e, FE_MAX_DEPTH, &deep) <= FE_MAX_DEPTH)
        return e;
    diag_error(p->d, deep.line ? deep : e->loc,
               "expression is nested too deeply: more than %d levels of parentheses, calls or "
               "operands inside one another (a flat chain such as a + b + c is not nesting)",
               FE_MAX_DEPTH);
    return fe_expr_int(p->a, e->loc, 0);
}

/* ---- syntax error messages ------------------------------------------------- */

static void fe_yyerror(FE_YYLTYPE *loc, yyscan_t scanner, FeParser *p, const char *msg)
{
    (void)scanner;
    if (strstr(msg, "exhausted"))
        msg = "program is nested too deeply";
    diag_error(p->d, L(*loc), "%s", msg);
}

static int is_kind(yysymbol_kind_t k, const char *name)
{
    return strcmp(yysymbol_name(k), name) == 0;
}

static int is_keyword(yysymbol_kind_t k)
{
    return k == YYSYMBOL_CONST || k == YYSYMBOL_MESH || k == YYSYMBOL_FN || k == YYSYMBOL_IMPORT
        || k == YYSYMBOL_LET
        || k == YYSYMBOL_RETURN || k == YYSYMBOL_FOR || k == YYSYMBOL_TRUE || k == YYSYMBOL_FALSE;
}

/* The opener that closer symbol `k` would match ('(' for "')'"), or 0. */
static char opener_of(yysymbol_kind_t k)
{
    return is_kind(k, "')'") ? '(' : is_kind(k, "']'") ? '[' : is_kind(k, "'}'") ? '{' : 0;
}

/* Innermost still-open bracket, or 0. */
static char innermost(const FeParser *p, SrcLoc *at)
{
    if (p->nopen == 0 || p->nopen > FE_MAX_OPEN)
        return 0;
    *at = p->open_loc[p->nopen - 1];
    return p->open_ch[p->nopen - 1];
}

/* Innermost open bracket `c`: 1 and its place, or 0. */
static int find_open(const FeParser *p, char c, SrcLoc *at)
{
    if (p->nopen > FE_MAX_OPEN)
        return 0;
    for (int i = p->nopen - 1; i >= 0; i--)
        if (p->open_ch[i] == c) {
            *at = p->open_loc[i];
            return 1;
        }
    return 0;
}

static char closer_of(char open)
{
    return open == '(' ? ')' : open == '[' ? ']' : '}';
}

/* Order of an expected item in a message: 0 others, 1 ',', 2 a closer. */
static int item_rank(const char *s)
{
    if (!strcmp(s, "','"))
        return 1;
    return !strcmp(s, "')'") || !strcmp(s, "']'") || !strcmp(s, "'}'") ? 2 : 0;
}

/* How the lookahead reads in a message: 'x', '(' or "end of file". */
static const char *found(const FeParser *p, yysymbol_kind_t la, char *buf, size_t n)
{
    if (la == YYSYMBOL_NAME || la == YYSYMBOL_INT || la == YYSYMBOL_FLOAT)
        snprintf(buf, n, "'%s'", p->tok_text);
    else
        snprintf(buf, n, "%s", yysymbol_name(la));
    return buf;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, FeParser *p)
{
    (void)scanner;
    yysymbol_kind_t exp[YYNTOKENS], la = yypcontext_token(ctx);
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;
    SrcLoc at = L(*yypcontext_location(ctx)), open_at = {0};
    char what[64];
    found(p, la, what, sizeof what);

    /* What could come next, in words: an expression start is "expression";
       operators that would only continue the expression before are not
       worth listing. */
    int want_expr = 0, want_name = 0, want_semi = 0, want_decl = 0, want_stmt = 0, cont = 0;
    for (int i = 0; i < n; i++) {
        want_stmt |= exp[i] == YYSYMBOL_LET;
        want_expr |= exp[i] == YYSYMBOL_INT;
        want_name |= exp[i] == YYSYMBOL_NAME;
        want_semi |= is_kind(exp[i], "';'");
        want_decl |= exp[i] == YYSYMBOL_FN;
        cont |= is_kind(exp[i], "'+'");
    }
    const char *items[8];
    char closer = 0; /* a closer among the items, as its opener */
    int others = 0;  /* items other than closers and ',' */
    int k = 0, many = 0;
    if (want_expr)
        items[k++] = "expression";
    for (int i = 0; i < n; i++) {
        yysymbol_kind_t e = exp[i];
        const char *s = yysymbol_name(e);
        if (want_expr && (e == YYSYMBOL_NAME || e == YYSYMBOL_INT || e == YYSYMBOL_FLOAT
                          || e == YYSYMBOL_STRING || e == YYSYMBOL_TRUE || e == YYSYMBOL_FALSE
                          || !strcmp(s, "'('") || !strcmp(s, "'['") || !strcmp(s, "'-'")))
            continue;
        if (cont && s[0] == '\'' && s[1] && strchr("+-*/@([=%<>", s[1]) && s[2] == '\'')
            continue;
        if (cont && (e == YYSYMBOL_FLOORDIV || e == YYSYMBOL_LE || e == YYSYMBOL_GE || e == YYSYMBOL_EQEQ
                     || e == YYSYMBOL_NE))
            continue;
        if (e == YYSYMBOL_YYerror)
            continue;
        if (opener_of(e))
            closer = opener_of(e);
        else if (strcmp(s, "','") != 0)
            others = 1;
        if (k < 8)
            items[k++] = s;
        else
            many = 1;
    }
    /* ',' and then the closers go last: "expected '=', ',' or ')'" */
    const char *sorted[8];
    int ns = 0;
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < k; i++)
            if (item_rank(items[i]) == pass)
                sorted[ns++] = items[i];
    memcpy(items, sorted, (size_t)k * sizeof *items);
    char open = innermost(p, &open_at);
    SrcLoc last = p->prev_end.line ? p->prev_end : at; /* just after the last good token */

    if (p->tok_quiet)
        return 0; /* the scanner already reported the cause */
    /* `... y;` (or `y]`) right after an error on the same line: resynchronising at a
       statement took the name for the start of an assignment `y = ...` */
    int cascade = p->last_syntax_line == at.line && k == 1 && !strcmp(items[0], "'='")
                  && p->prev_kind == NAME;
    p->last_syntax_line = at.line;
    if (cascade)
        return 0;

    if (is_keyword(la) && want_name && !want_expr && !want_stmt) {
        diag_error(p->d, at, "'%s' is a keyword and cannot be used as a name", p->tok_text);
        return 0;
    }
    if ((la == YYSYMBOL_CONST || la == YYSYMBOL_MESH || la == YYSYMBOL_FN || la == YYSYMBOL_IMPORT)
        && p->tok_depth > 0) {
        diag_error(p->d, at, "%s declarations are only allowed at top level, "
                   "not inside a function body", what);
        return 0;
    }
    if (want_semi) {
        diag_error(p->d, last, "expected ';' after %s",
                   p->tok_depth > 0 ? "statement" : "declaration");
        return 0;
    }
    if (la == YYSYMBOL_YYEOF) {
        if (closer) {
            diag_error(p->d, last, "expected '%c' at end of file", closer_of(closer));
            if (find_open(p, closer, &open_at))
                diag_note(p->d, open_at, "to match this '%c'", closer);
            p->eof_brace_reported |= closer == '{';
        } else if (k == 1 && !many) {
            diag_error(p->d, last, "expected %s at end of file", items[0]);
        } else {
            diag_error(p->d, last, "unexpected end of file");
        }
        return 0;
    }
    if (p->tok_depth == 0 && want_decl && is_kind(la, "';'") && p->prev_kind == '}') {
        diag_error(p->d, at, "unexpected ';' after a function body (no ';' follows '}')");
        return 0;
    }
    if (p->tok_depth == 0 && want_decl) {
        diag_error(p->d, at, "unexpected %s at top level: expected 'import', 'const', 'mesh' or 'fn'",
                   what);
        return 0;
    }
    if (k == 0 || k > 4 || many) {
        diag_error(p->d, at, "unexpected %s", what);
        return 0;
    }
    char list[256] = "";
    for (int i = 0; i < k; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i == 0 ? "" : i == k - 1 ? " or " : ", ",
                 items[i]);
    }
    diag_error(p->d, at, "expected %s before %s", list, what);
    if (closer && open == closer && !others)
        diag_note(p->d, open_at, "to match this '%c'", open);
    return 0;
}

Program *fe_parse(Arena *a, Diag *d, const char *file, const char *text)
{
    return fe_parse_bytes(a, d, file, text, text ? strlen(text) : 0);
}

Program *fe_parse_bytes(Arena *a, Diag *d, const char *file, const char *text, size_t len)
{
    FeParser p = {0};
    p.a = a;
    p.d = d;
    p.file = arena_strdup(a, file ? file : "<input>");
    p.decls = fe_list_new(a);
    if (!text)
        text = "", len = 0;
    diag_add_source_bytes(d, p.file, text, len);
    void *scanner = fe_lex_begin(&p, text, len);
    fe_yyparse(scanner, &p);
    fe_lex_end(scanner);
    SrcLoc open_at = {0};
    if (p.depth > 0 && p.at_eof && !p.eof_brace_reported && find_open(&p, '{', &open_at)
        && (open_at.line != p.brace_reported.line || open_at.col != p.brace_reported.col)) {
        /* the parser may have stopped at the end of the file while still
           recovering from an earlier error, without a word about it */
        diag_error(d, p.prev_end.line ? p.prev_end : p.cur_end, "expected '}' at end of file");
        diag_note(d, open_at, "to match this '{'");
    }

    Program *prog = arena_alloc(a, sizeof *prog);
    prog->file = p.file;
    prog->ndecls = p.decls->n;
    prog->decls = arena_alloc(a, (size_t)(p.decls->n ? p.decls->n : 1) * sizeof(Decl *));
    for (int i = 0; i < p.decls->n; i++)
        prog->decls[i] = p.decls->items[i];
    return prog;
}
