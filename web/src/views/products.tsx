import { useState } from 'preact/hooks';
import { api, type Product, type ProductInput } from '../api';
import { redrawSaved, useSubmit, useWritable } from '../forms';
import { field } from '../fields';
import { navigate } from '../router';
import { PagedTable } from '../table';
import { Async, ErrorBox, formatNumber, useAsync } from '../ui';
import { HistoryList } from './history';

/** A new product leaves an empty description out; an edit sends it as typed (emptied, it is cleared). */
function productBody(form: FormData, editing = false): ProductInput {
  const text = (name: string) => field(form, name).trim();
  const description = text('description');
  return {
    name: text('name'), slug: text('slug'), price: Number(text('price')),
    ...(description || editing ? { description } : {}), tags: text('tags').split(',').map((tag) => tag.trim()).filter(Boolean),
  };
}

function ProductFields({ product }: { product?: Product }) {
  return (
    <>
      <label>Name <input name="name" defaultValue={product?.name} required /></label>
      <label>Slug <input name="slug" defaultValue={product?.slug} required pattern="[a-z0-9\-]+" /></label>
      <label>Price <input name="price" type="number" step="0.01" min="0" defaultValue={product?.price} required /></label>
      <label>Tags <input name="tags" defaultValue={product?.tags.join(', ')} placeholder="home, sale" /></label>
      <label class="wide">Description <textarea name="description" rows={2} defaultValue={product?.description ?? ''} /></label>
    </>
  );
}

export function Products({ params }: { params: Record<string, string> }) {
  const q = params.q ?? '';
  const state = useAsync(() => api.products({ q: q || undefined, tag: params.tag, limit: 50, cursor: params.cursor }), [q, params.tag, params.cursor]);
  const [creating, setCreating] = useState(false);
  const writable = useWritable();
  const create = useSubmit((form) => api.createProduct(productBody(form)), ({ data }) => navigate(`/products/${data.id}`));
  return (
    <section aria-labelledby="products-title">
      <h2 id="products-title">Products</h2>
      <form class="toolbar" role="search" onSubmit={(event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        navigate('/products', { q: field(form, 'q').trim(), tag: field(form, 'tag').trim() });
      }}>
        <label>Search <input key={q} type="search" name="q" defaultValue={q} placeholder="name or description" /></label>
        <label>Tag <input key={params.tag} name="tag" defaultValue={params.tag ?? ''} size={8} /></label>
        <button type="submit">Search</button>
        {writable && <button type="button" aria-expanded={creating} onClick={() => setCreating(!creating)}>New product</button>}
      </form>
      {writable && creating && (
        <form class="panel form" onSubmit={create.onSubmit} aria-label="new product">
          <ProductFields />
          <button type="submit" disabled={create.busy}>Create</button>
          {create.error ? <ErrorBox error={create.error} /> : null}
        </form>
      )}
      <PagedTable state={state} what="products" caption="products" empty={q || params.tag ? 'No product matches.' : 'No product yet: create one with “New product”.'}
        columns={[
          { label: 'Name', cell: (product) => <a href={`#/products/${product.id}`}>{product.name}</a> },
          { label: 'Price', numeric: true, cell: (product) => product.price.toFixed(2) },
          { label: 'Tags', cell: (product) => product.tags.join(', ') },
        ]}
        cursor={params.cursor} go={(cursor) => navigate('/products', { q, tag: params.tag, cursor })} />
    </section>
  );
}

export function ProductDetail({ id }: { id: number }) {
  const product = useAsync(() => api.product(id), [id]);
  const stock = useAsync(() => api.inventory(id), [id]);
  const [round, setRound] = useState(0);
  const [saved, setSaved] = useState('');
  const writable = useWritable();
  const edit = useSubmit((form) => api.updateProduct(id, productBody(form, true)), async (_, form) => {
    await redrawSaved(form, product);
    setSaved('Saved.');
    setRound((n) => n + 1);
  });
  const adjust = useSubmit((form) => api.adjustInventory(id, Number(field(form, 'delta'))), async (_, form) => {
    await redrawSaved(form, stock);
    setSaved('Stock adjusted.');
    setRound((n) => n + 1);
  });
  return (
    <section aria-labelledby="product-title">
      <p><a href="#/products">← Products</a></p>
      <Async state={product} what="the product">
        {({ data }) => (
          <>
            <h2 id="product-title">{data.name} <span class="muted">#{data.id}</span></h2>
            {!writable && (
              <div class="panel">
                <p>{data.price.toFixed(2)} · {data.slug}{data.tags.length > 0 ? ` · ${data.tags.join(', ')}` : ''}</p>
                {data.description && <p>{data.description}</p>}
                <p class="stock">In stock: <strong data-testid="stock">{stock.data ? formatNumber(stock.data.data.quantity) : '…'}</strong></p>
              </div>
            )}
            {writable && <div class="grid">
              <form class="panel form" onSubmit={edit.onSubmit} aria-label="edit product">
                <h3>Details</h3>
                <ProductFields product={data} />
                <button type="submit" disabled={edit.busy}>Save</button>
                {edit.error ? <ErrorBox error={edit.error} /> : null}
              </form>
              <form class="panel form" onSubmit={adjust.onSubmit} aria-label="adjust stock">
                <h3>Stock</h3>
                <p class="stock">In stock: <strong data-testid="stock">{stock.data ? formatNumber(stock.data.data.quantity) : '…'}</strong></p>
                <label>Change by <input name="delta" type="number" step="1" required placeholder="-3 or 10" /></label>
                <button type="submit" disabled={adjust.busy}>Adjust</button>
                {adjust.error ? <ErrorBox error={adjust.error} /> : null}
              </form>
            </div>}
            {saved && <p role="status" class="saved">{saved}</p>}
          </>
        )}
      </Async>
      <h3>Change history</h3>
      <HistoryList key={`p${round}`} entity="product" entityId={id} />
      <h4>Stock</h4>
      <HistoryList key={`i${round}`} entity="inventory" entityId={id} />
    </section>
  );
}
